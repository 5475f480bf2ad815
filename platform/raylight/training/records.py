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
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Literal

from raylight.errors import TargetError
from raylight.training.checkpoints import write_json_atomic

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


PROVENANCE_PACKAGES = (
    "raylight",
    "ray",
    "torch",
    "numpy",
    "pandas",
    "pyarrow",
    "safetensors",
    "lightning",
    "accelerate",
)


def git_commit(project_root: Path) -> str | None:
    """The project's commit, with "+dirty" when tracked files changed; None outside git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(project_root), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide what a checkpoint means."""
    versions = {}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


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


def write_record(record: RunRecord) -> None:
    run_path = Path(record.run_path)
    write_json_atomic(run_path / RECORD_FILE, asdict(record))
    write_json_atomic(run_path.parent / LATEST_FILE, asdict(record))


def read_record(path: Path) -> RunRecord:
    """Read a record from a spec's experiment directory (latest) or from a run directory."""
    for candidate in (path / RECORD_FILE, path / LATEST_FILE):
        if candidate.is_file():
            return RunRecord(**json.loads(candidate.read_text()))
    raise TargetError(
        f"{path} has no finished Raylight run ({RECORD_FILE} or {LATEST_FILE}); train or tune "
        "first, or pass a checkpoint directory."
    )
