"""`raylight jobs list|status|logs|wait|stop`: the Ray jobs that `raylight submit` started."""

from __future__ import annotations

import typer

from raylight.cli.output import console, print_jobs
from raylight.cli.submit import JOBS_ADDRESS

app = typer.Typer(
    help="List, inspect, follow and stop Raylight jobs on a Ray cluster.", no_args_is_help=True
)
JOB_ID = typer.Argument(
    ..., help="Job (submission) id, as printed by submit or list.", show_default=False
)


@app.command("list")
def list_command(address: str | None = JOBS_ADDRESS) -> None:
    """Raylight jobs on the cluster, newest first."""
    from raylight.jobs import list_jobs

    print_jobs(list_jobs(address))


@app.command()
def status(job_id: str = JOB_ID, address: str | None = JOBS_ADDRESS) -> None:
    """Status of one job (exit code 1 if it failed or was stopped)."""
    from raylight.jobs import job_info
    from raylight.jobs.submit import METADATA_PREFIX

    info = job_info(job_id, address)
    console.print(f"{job_id}: {info.status.value}", markup=False)
    if info.message:
        console.print(f"  {info.message}", markup=False)
    console.print(f"  entrypoint  {info.entrypoint}", markup=False)
    for key, value in sorted((info.metadata or {}).items()):
        if key.startswith(METADATA_PREFIX):
            console.print(f"  {key.removeprefix(METADATA_PREFIX):<11} {value}", markup=False)
    if info.status.value in ("FAILED", "STOPPED"):
        raise typer.Exit(1)


@app.command()
def logs(
    job_id: str = JOB_ID,
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Stream until the job ends; exit 1 unless it succeeded."
    ),
    address: str | None = JOBS_ADDRESS,
) -> None:
    """Print a job's driver logs."""
    from raylight.jobs import job_logs

    final = job_logs(
        job_id, address=address, follow=follow, emit=lambda text: console.out(text, end="")
    )
    if follow:
        console.print(f"\n{job_id}: {final.value}", markup=False)
        if final.value != "SUCCEEDED":
            raise typer.Exit(1)


@app.command()
def wait(
    job_id: str = JOB_ID,
    timeout_s: float | None = typer.Option(
        None, "--timeout", help="Give up after this many seconds (exit code 124)."
    ),
    address: str | None = JOBS_ADDRESS,
) -> None:
    """Wait for a job to end; the exit code says how (0 succeeded, 1 failed or stopped)."""
    from raylight.jobs import wait_for_job

    final = wait_for_job(job_id, address, timeout_s)
    if final is None:
        console.print(f"{job_id}: still running after {timeout_s:g} s", markup=False)
        raise typer.Exit(124)
    console.print(f"{job_id}: {final.value}", markup=False)
    if final.value != "SUCCEEDED":
        raise typer.Exit(1)


@app.command()
def stop(job_id: str = JOB_ID, address: str | None = JOBS_ADDRESS) -> None:
    """Stop a running job; checkpoints it already wrote stay usable."""
    from raylight.jobs import stop_job

    stopped = stop_job(job_id, address)
    console.print(f"{job_id}: {'stop requested' if stopped else 'already finished'}", markup=False)
