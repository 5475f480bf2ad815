"""`raylight tune SPEC [overrides]`: a Ray Tune sweep of Ray Train runs; prints the trial table."""

from __future__ import annotations

from pathlib import Path

from raylight.cli.common import ADDRESS, OVERRIDES, SPEC, Flags
from raylight.cli.output import console, print_trial, print_tuning
from raylight.components import load_checked


def tune(
    spec: Path = SPEC, overrides: list[str] = OVERRIDES, address: str | None = ADDRESS
) -> None:
    """Run the spec's tune section; the best trial's best checkpoint becomes the spec's latest."""
    from raylight.tuning import run_tuning

    loaded = load_checked(spec, overrides)
    sweep = loaded.spec.tune
    if sweep is not None:
        console.print(
            f"tuning [bold]{loaded.spec.name}[/]: {sweep.num_samples} trials of "
            f"{loaded.spec.resources.num_workers}-worker runs, {sweep.scheduler.kind} scheduler"
        )
    result = run_tuning(loaded, address=address, verbose=Flags.debug, on_trial=print_trial)
    print_tuning(result)
    console.print(f"serve it: raylight serve {spec}")
