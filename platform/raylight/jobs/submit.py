"""Run a Raylight command on a remote Ray cluster as a Ray job, and manage those jobs.

The job runs exactly the CLI command a user would type (`python -m raylight train SPEC ...`),
with the project directory uploaded as its working dir and this Raylight package alongside.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import secrets
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ray.job_submission import JobDetails, JobStatus, JobSubmissionClient

from raylight.cluster import UPLOAD_EXCLUDES, build_runtime_env, find_token
from raylight.components import load_checked
from raylight.errors import JobError
from raylight.jobs.client import call, make_client, resolve_address
from raylight.jobs.packaging import is_too_large, too_large_message
from raylight.runs.provenance import git_commit
from raylight.spec import LoadedSpec, load_spec

REMOTE_VERBS = ("train", "tune", "run", "validate")
METADATA_PREFIX = "raylight."


@dataclass(frozen=True)
class SubmittedJob:
    job_id: str
    address: str
    entrypoint: str


@dataclass(frozen=True)
class JobRow:
    job_id: str
    spec_name: str
    verb: str
    status: str
    started_at: datetime | None
    duration_s: float | None


def submit_job(
    spec_path: str | Path, command: Sequence[str] = (), *, address: str | None = None
) -> SubmittedJob:
    """Validate locally (nothing is uploaded for a broken spec), then submit `command`.

    `command` is a verb and its arguments (`["train", "train.epochs=3"]`); without one, the
    job tunes if the spec has a tune section and trains otherwise.
    """
    verb, args = split_command(command, spec_path)
    loaded = load_checked(spec_path, [a for a in args if "=" in a and not a.startswith("-")])
    spec_in_project = _relative_to_project(loaded)
    entrypoint = shlex.join(["python", "-m", "raylight", verb, spec_in_project, *args])
    job_id = (
        f"raylight-{loaded.spec.name}-{verb}-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    )
    url = resolve_address(address)
    client = make_client(url)
    _quiet_packaging_logs()
    try:
        _submit(client, url, loaded, verb, entrypoint, job_id)
    except JobError as error:
        if is_too_large(error.message):
            raise JobError(too_large_message(loaded.project_root, UPLOAD_EXCLUDES)) from None
        raise
    return SubmittedJob(job_id=job_id, address=url, entrypoint=entrypoint)


def _submit(
    client: JobSubmissionClient,
    url: str,
    loaded: LoadedSpec,
    verb: str,
    entrypoint: str,
    job_id: str,
) -> None:
    call(
        url,
        find_token(),
        lambda: client.submit_job(
            entrypoint=entrypoint,
            submission_id=job_id,
            runtime_env=job_runtime_env(loaded),
            metadata=job_metadata(loaded, verb),
        ),
    )


def job_runtime_env(loaded: LoadedSpec) -> dict[str, Any]:
    """The project and Raylight uploaded; the spec's run.env and requirements on the cluster."""
    run = loaded.spec.run
    requirements = (
        read_requirements(loaded.resolve_path(run.requirements)) if run.requirements else None
    )
    return build_runtime_env(loaded.project_root, run.env, upload=True, pip_packages=requirements)


def read_requirements(path: Path) -> list[str]:
    """Requirement lines, without comments and blanks (Ray's pip plugin takes a list)."""
    if not path.is_file():
        raise JobError(f"run.requirements: no file {path}")
    lines = (line.split(" #", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def job_metadata(loaded: LoadedSpec, verb: str) -> dict[str, str]:
    """What `raylight jobs list` shows and what finds the job again next week."""
    metadata = {
        f"{METADATA_PREFIX}spec": loaded.spec.name,
        f"{METADATA_PREFIX}verb": verb,
        f"{METADATA_PREFIX}spec_hash": loaded.spec_hash,
        f"{METADATA_PREFIX}user": getpass.getuser(),
    }
    commit = git_commit(loaded.project_root)
    if commit:
        metadata[f"{METADATA_PREFIX}git_commit"] = commit
    return metadata


def split_command(command: Sequence[str], spec_path: str | Path) -> tuple[str, list[str]]:
    if not command:
        loaded = load_spec(spec_path)
        return ("tune" if loaded.spec.tune else "train"), []
    verb, *args = command
    if verb not in REMOTE_VERBS:
        raise JobError(
            f"cannot submit {verb!r}: a job runs one of {', '.join(REMOTE_VERBS)} (serve a "
            "remote run's checkpoint with `raylight serve` where its storage is reachable)."
        )
    return verb, list(args)


def list_jobs(address: str | None = None) -> list[JobRow]:
    """Raylight's jobs on the cluster, newest first."""
    url = resolve_address(address)
    client = make_client(url)
    jobs = call(url, find_token(), client.list_jobs)
    rows = [_row(job) for job in jobs if (job.metadata or {}).get(f"{METADATA_PREFIX}spec")]
    return sorted(
        rows, key=lambda r: r.started_at or datetime.min.replace(tzinfo=timezone.utc), reverse=True
    )


def job_info(job_id: str, address: str | None = None) -> JobDetails:
    url = resolve_address(address)
    client = make_client(url)
    return call(url, find_token(), lambda: client.get_job_info(job_id))


def job_logs(
    job_id: str,
    *,
    address: str | None = None,
    follow: bool = False,
    emit: Callable[[str], None] = print,
) -> JobStatus:
    """Print the job's logs (streaming until it ends with `follow`); return its status."""
    url = resolve_address(address)
    client = make_client(url)
    token = find_token()
    _quiet_packaging_logs()
    if follow:

        async def tail() -> None:
            async for chunk in client.tail_job_logs(job_id):
                emit(chunk)

        call(url, token, lambda: asyncio.run(tail()))
    else:
        emit(call(url, token, lambda: client.get_job_logs(job_id)))
    return call(url, token, lambda: client.get_job_status(job_id))


def wait_for_job(
    job_id: str, address: str | None = None, timeout_s: float | None = None, poll_s: float = 2.0
) -> JobStatus | None:
    """Block until the job reaches a final status and return it; None if `timeout_s` ran out."""
    url = resolve_address(address)
    client = make_client(url)
    token = find_token()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        status = call(url, token, lambda: client.get_job_status(job_id))
        if status.is_terminal():
            return status
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(poll_s)


def stop_job(job_id: str, address: str | None = None) -> bool:
    """Ask the cluster to stop the job; checkpoints it already wrote stay where they are."""
    url = resolve_address(address)
    client = make_client(url)
    return call(url, find_token(), lambda: client.stop_job(job_id))


def _row(job: JobDetails) -> JobRow:
    metadata = job.metadata or {}
    started = (
        datetime.fromtimestamp(job.start_time / 1000, timezone.utc) if job.start_time else None
    )
    duration = None
    if job.start_time:
        end = job.end_time or datetime.now(timezone.utc).timestamp() * 1000
        duration = (end - job.start_time) / 1000
    return JobRow(
        job_id=job.submission_id or job.job_id or "?",
        spec_name=metadata.get(f"{METADATA_PREFIX}spec", "?"),
        verb=metadata.get(f"{METADATA_PREFIX}verb", "?"),
        status=str(job.status.value if hasattr(job.status, "value") else job.status),
        started_at=started,
        duration_s=duration,
    )


def _quiet_packaging_logs() -> None:
    """Ray logs every file it skips while zipping the working dir; keep errors only."""
    for name in ("ray._private.runtime_env", "ray.dashboard.modules"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _relative_to_project(loaded: LoadedSpec) -> str:
    try:
        return str(loaded.path.relative_to(loaded.project_root))
    except ValueError:
        raise JobError(
            f"{loaded.path} is outside the project directory {loaded.project_root}; only the "
            "project directory is uploaded, so the spec must live inside it."
        ) from None
