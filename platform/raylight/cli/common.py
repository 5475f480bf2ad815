"""What every verb shares: the spec argument, override arguments, --address, and --debug."""

from __future__ import annotations

from pathlib import Path

import typer

from raylight.components import check_builders, ensure_importable
from raylight.errors import SpecError
from raylight.spec import LoadedSpec, load_spec


class Flags:
    """Set by main() before a verb runs (`--debug` may appear anywhere on the line)."""

    debug = False


SPEC = typer.Argument(..., help="Experiment spec (YAML).", show_default=False)
OVERRIDES = typer.Argument(
    None, help="Spec overrides as dotted.path=value, e.g. train.epochs=5.", show_default=False
)
ADDRESS = typer.Option(
    None,
    "--address",
    help="Ray cluster address (host:6379, ray://host:10001). Default: RAY_ADDRESS, else an "
    "embedded single-node Ray for this command.",
)


def load_checked(spec: Path, overrides: list[str] | None) -> LoadedSpec:
    """Validate the spec and resolve its builders: a typo never costs a cluster start."""
    loaded = load_spec(spec, overrides or [])
    ensure_importable(loaded.project_root)
    problems = check_builders(loaded.spec.model, loaded.spec.data.source)
    if problems:
        raise SpecError(str(spec), problems)
    return loaded
