"""What `raylight serve X` means: a spec (its latest run), a run directory, or a checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from raylight.errors import RaylightError
from raylight.spec import load_spec
from raylight.spec.schema import ServeSpec
from raylight.training.checkpoints import META_FILE, read_meta
from raylight.training.records import LATEST_FILE, RECORD_FILE, read_record


class Lineage(BaseModel):
    """Run facts the checkpoint itself does not hold (they come from the run record)."""

    run_path: str | None = None
    trial_id: str | None = None


@dataclass(frozen=True)
class ServeTarget:
    """A checkpoint to serve, the Serve settings that apply to it, and its run lineage."""

    checkpoint_path: Path
    serve_spec: ServeSpec
    app_name: str
    lineage: Lineage
    project_root: Path | None = None


def resolve_target(target: str | Path, overrides: Sequence[str] = ()) -> ServeTarget:
    """A spec file (its latest run), a run directory, or a checkpoint directory."""
    path = Path(target).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        loaded = load_spec(path, overrides)
        record = read_record(loaded.storage_path / loaded.spec.name)
        return ServeTarget(
            checkpoint_path=Path(record.checkpoint_path),
            serve_spec=loaded.spec.serve,
            app_name=loaded.spec.name,
            lineage=Lineage(run_path=record.run_path, trial_id=record.trial_id),
            project_root=loaded.project_root,
        )
    if (path / META_FILE).is_file():
        spec = read_meta(path).parsed_spec
        return ServeTarget(path.resolve(), spec.serve, spec.name, Lineage())
    if (path / RECORD_FILE).is_file() or (path / LATEST_FILE).is_file():
        record = read_record(path)
        spec = read_meta(Path(record.checkpoint_path)).parsed_spec
        lineage = Lineage(run_path=record.run_path, trial_id=record.trial_id)
        return ServeTarget(Path(record.checkpoint_path), spec.serve, spec.name, lineage)
    raise RaylightError(
        f"{target}: not a spec file, a run directory or a Raylight checkpoint directory."
    )
