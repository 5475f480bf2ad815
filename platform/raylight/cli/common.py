"""What every verb shares: the spec argument, override arguments, --address, and --debug."""

from __future__ import annotations

import typer


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
