"""`raylight submit SPEC --address URL [-- VERB ARGS...]`: a Raylight command as a Ray job."""

from __future__ import annotations

from pathlib import Path

import typer

from raylight.cli.common import SPEC
from raylight.cli.output import console

JOBS_ADDRESS = typer.Option(
    None,
    "--address",
    help="Ray dashboard URL (Jobs API), e.g. http://127.0.0.1:8265. Default: "
    "RAY_API_SERVER_ADDRESS, else http://127.0.0.1:8265.",
)


def submit(
    spec: Path = SPEC,
    command: list[str] = typer.Argument(
        None,
        help="After `--`: the verb and its arguments (default: tune if the spec has a tune "
        "section, else train).",
        show_default=False,
    ),
    address: str | None = JOBS_ADDRESS,
) -> None:
    """Submit `raylight VERB SPEC ...` as a Ray job; the project directory is uploaded with it."""
    from raylight.jobs import submit_job

    job = submit_job(spec, command or [], address=address)
    console.print(f"[bold green]submitted[/] {job.job_id} to {job.address}")
    console.print(f"  runs     {job.entrypoint}")
    console.print(f"  logs     raylight jobs logs --follow {job.job_id} --address {job.address}")
    console.print(f"  status   raylight jobs status {job.job_id} --address {job.address}")
    console.print(f"  stop     raylight jobs stop {job.job_id} --address {job.address}")
