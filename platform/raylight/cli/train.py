"""`raylight train SPEC [overrides]`: one Ray Train run; prints the best checkpoint."""

from __future__ import annotations

from pathlib import Path

from raylight.cli.common import ADDRESS, OVERRIDES, SPEC, Flags
from raylight.cli.output import console, print_epoch, print_training
from raylight.components import load_checked


def train(
    spec: Path = SPEC, overrides: list[str] = OVERRIDES, address: str | None = ADDRESS
) -> None:
    """Train the spec's model on a Ray Train worker group and keep its best checkpoints."""
    from raylight.training import run_training
    from raylight.training.scaling import train_workers

    loaded = load_checked(spec, overrides)
    workers = train_workers(loaded.spec.resources)
    epochs = loaded.spec.train.epochs
    console.print(f"training [bold]{loaded.spec.name}[/] on {workers} workers ({epochs} epochs)")
    result = run_training(
        loaded, address=address, verbose=Flags.debug, on_epoch=print_epoch(loaded.spec.train.epochs)
    )
    print_training(result)
    console.print(f"serve it: raylight serve {spec}")
