"""`raylight train SPEC [overrides] [--resume]`: one Ray Train run; prints the best checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer

from raylight.cli.common import ADDRESS, OVERRIDES, SPEC, is_debug
from raylight.cli.output import console, print_epoch, print_placement, print_training
from raylight.components import load_checked

RESUME = typer.Option(
    False,
    "--resume",
    help="Continue the newest unfinished run of this exact spec (its driver died or was "
    "stopped) from its latest checkpoint, instead of starting a new run.",
)


def train(
    ctx: typer.Context,
    spec: Path = SPEC,
    overrides: list[str] = OVERRIDES,
    address: str | None = ADDRESS,
    resume: bool = RESUME,
) -> None:
    """Train the spec's model on a Ray Train worker group and keep its best checkpoints."""
    from raylight.runs.history import last_epoch
    from raylight.training.scaling import train_workers
    from raylight.training.trainer import run_training, unfinished_training

    loaded = load_checked(spec, overrides)
    workers = train_workers(loaded.spec.resources)
    epochs = loaded.spec.train.epochs
    unfinished = unfinished_training(loaded)
    if resume and unfinished:
        console.print(
            f"resuming {unfinished} (last reported epoch {last_epoch(unfinished)}/{epochs})"
        )
    elif resume:
        console.print("nothing to resume for this spec: starting a new run")
    elif unfinished:
        console.print(f"[dim]{unfinished} never finished; --resume continues it[/]")
    console.print(f"training [bold]{loaded.spec.name}[/] on {workers} workers ({epochs} epochs)")
    result = run_training(
        loaded,
        address=address,
        verbose=is_debug(ctx),
        on_epoch=print_epoch(epochs, loaded.spec.train.metric),
        on_placement=print_placement,
        resume_run=unfinished if resume else None,
    )
    print_training(result)
    console.print(f"serve it: raylight serve {spec}")
