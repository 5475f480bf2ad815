"""What `raylight serve X` means: a spec (its latest run), a run directory, or a checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from raylight.errors import Problem, SpecError, TargetError
from raylight.runs.checkpoints import META_FILE, read_meta
from raylight.runs.records import LATEST_FILE, RECORD_FILE, RunRecord, read_record
from raylight.spec import load_spec
from raylight.spec.loader import ensure_importable, validate_tree
from raylight.spec.overrides import apply_overrides, parse_override
from raylight.spec.schema import ServeSpec, Spec


class Lineage(BaseModel):
    """Run facts the checkpoint itself does not hold (they come from the run record)."""

    run_path: str | None = None
    trial_id: str | None = None
    metric: str | None = None  # what ranked this checkpoint (a sweep's metric may differ)
    git_commit: str | None = None
    packages: dict[str, str] = {}

    @classmethod
    def of(cls, record: RunRecord) -> Lineage:
        return cls(
            run_path=record.run_path,
            trial_id=record.trial_id,
            metric=record.metric,
            git_commit=record.git_commit,
            packages=record.packages,
        )


@dataclass(frozen=True)
class ServeTarget:
    """A checkpoint to serve, the Serve settings that apply to it, and its run lineage."""

    checkpoint_path: Path
    serve_spec: ServeSpec
    app_name: str
    lineage: Lineage
    project_root: Path | None = None


def resolve_target(target: str | Path, overrides: Sequence[str] = ()) -> ServeTarget:
    """A spec file (its latest run), a run directory, or a checkpoint directory.

    For a spec file the overrides apply to the spec as usual. A checkpoint carries the spec it
    was trained with; only its `serve.*` settings can be overridden there.
    """
    path = Path(target).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        loaded = load_spec(path, overrides)
        record = read_record(loaded.storage_path / loaded.spec.name)
        return ServeTarget(
            checkpoint_path=Path(record.checkpoint_path),
            serve_spec=loaded.spec.serve,
            app_name=loaded.spec.name,
            lineage=Lineage.of(record),
            project_root=loaded.project_root,
        )
    if (path / META_FILE).is_file():
        checkpoint, lineage = path.resolve(), Lineage()
    elif (path / RECORD_FILE).is_file() or (path / LATEST_FILE).is_file():
        record = read_record(path)
        checkpoint, lineage = Path(record.checkpoint_path), Lineage.of(record)
    else:
        raise TargetError(
            f"{target}: not a spec file, a run directory or a Raylight checkpoint directory."
        )
    spec = _checkpoint_spec(checkpoint, overrides)
    # An entry point of its own: the checkpoint names its model builder by module path, which
    # imports from the directory `raylight serve` runs in (a spec's target came via load_spec).
    ensure_importable(Path.cwd())
    return ServeTarget(checkpoint, spec.serve, spec.name, lineage)


def _checkpoint_spec(checkpoint: Path, overrides: Sequence[str]) -> Spec:
    source = str(checkpoint / META_FILE)
    parsed: dict[str, Any] = {}
    problems = []
    for text in overrides:
        result = parse_override(text)
        if isinstance(result, Problem):
            problems.append(result)
        elif not result[0].startswith("serve."):
            problems.append(
                Problem(result[0], "only serve.* settings can change when serving a checkpoint.")
            )
        else:
            parsed[result[0]] = result[1]
    if problems:
        raise SpecError(source, problems)
    return validate_tree(apply_overrides(read_meta(checkpoint).spec, parsed), source, {})
