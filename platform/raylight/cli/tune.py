"""`raylight tune SPEC [overrides] [--dry-run]`: a Ray Tune sweep of Ray Train runs."""

from __future__ import annotations

from pathlib import Path

import typer

from raylight.cli.common import ADDRESS, OVERRIDES, SPEC, is_debug
from raylight.cli.output import console, print_plan, print_status, print_trial, print_tuning
from raylight.components import load_checked


def tune(
    ctx: typer.Context,
    spec: Path = SPEC,
    overrides: list[str] = OVERRIDES,
    address: str | None = ADDRESS,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan (trials, resources, worst case) and exit."
    ),
) -> None:
    """Run the spec's tune section; the best trial's best checkpoint becomes the spec's latest."""
    from raylight.tuning import plan_tuning, run_tuning

    loaded = load_checked(spec, overrides)
    if dry_run:
        print_plan(plan_tuning(loaded, address=address), title=f"plan for {loaded.spec.name}")
        return
    console.print(f"tuning [bold]{loaded.spec.name}[/]")
    result = run_tuning(
        loaded,
        address=address,
        verbose=is_debug(ctx),
        on_trial=print_trial,
        on_status=print_status,
        on_plan=print_plan,
    )
    print_tuning(result)
    console.print(f"serve it: raylight serve {spec}")
