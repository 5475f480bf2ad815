"""Run records: which checkpoint is the result of a run or sweep, and which run of a spec is latest.

Layout under `run.storage_path`:
    <spec name>/latest.json             the newest finished train or tune run of that spec
    <spec name>/<run name>/raylight_run.json   the record of one run
A record is written only after the run finished, atomically, so `raylight serve SPEC` never
picks up a run that is still going or died half-way.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from raylight.errors import TargetError
from raylight.runs.files import write_json_atomic
from raylight.runs.provenance import git_commit, package_versions

LATEST_FILE = "latest.json"
RECORD_FILE = "raylight_run.json"


@dataclass(frozen=True)
class RunRecord:
    kind: Literal["train", "tune"]
    spec_name: str
    spec_hash: str
    run_path: str
    checkpoint_path: str
    metric: str
    metric_value: float
    finished_at: str
    trial_id: str | None = None
    git_commit: str | None = None  # the project's commit ("+dirty" with uncommitted changes)
    packages: dict[str, str] = field(default_factory=dict)  # versions the run trained with


def new_run_name(kind: str) -> str:
    """A fresh name per run: reusing one would make Ray resume the old run (it resumes by name)."""
    return f"{kind}-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def unfinished_run(experiment_dir: Path, prefix: str) -> Path | None:
    """The newest run directory named `<prefix>-*` that has no record, i.e. never finished.

    Names sort by their start time. Only the newest counts: an older unfinished run was
    abandoned when a newer one started.
    """
    runs = sorted(path for path in experiment_dir.glob(f"{prefix}-*") if path.is_dir())
    if runs and not (runs[-1] / RECORD_FILE).exists():
        return runs[-1]
    return None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record_finished_run(
    kind: Literal["train", "tune"],
    *,
    spec_name: str,
    spec_hash: str,
    run_path: Path,
    checkpoint_path: Path,
    metric: str,
    metric_value: float,
    project_root: Path,
    trial_id: str | None = None,
) -> RunRecord:
    """The one writer of run records: a finished run's (or sweep's) record, and `latest.json`.

    Provenance (the project's git commit, package versions) is taken here, as the run ends.
    """
    record = RunRecord(
        kind=kind,
        spec_name=spec_name,
        spec_hash=spec_hash,
        run_path=str(run_path),
        checkpoint_path=str(checkpoint_path),
        metric=metric,
        metric_value=metric_value,
        finished_at=now_iso(),
        trial_id=trial_id,
        git_commit=git_commit(project_root),
        packages=package_versions(),
    )
    write_json_atomic(run_path / RECORD_FILE, asdict(record))
    write_json_atomic(run_path.parent / LATEST_FILE, asdict(record))
    return record


def read_record(path: Path) -> RunRecord:
    """Read a record from a spec's experiment directory (latest) or from a run directory."""
    for candidate in (path / RECORD_FILE, path / LATEST_FILE):
        if candidate.is_file():
            return RunRecord(**json.loads(candidate.read_text()))
    raise TargetError(
        f"{path} has no finished Raylight run ({RECORD_FILE} or {LATEST_FILE}); train or tune "
        "first, or pass a checkpoint directory."
    )
