"""What every verb shares: the spec argument, override arguments, --address, and --debug."""

from __future__ import annotations

from dataclasses import dataclass

import typer


@dataclass(frozen=True)
class Invocation:
    """What main() read off the whole command line, handed to the verb as `ctx.obj`.

    `--debug` may appear anywhere on the line, so main() takes it out before Typer parses.
    """

    debug: bool = False


def is_debug(ctx: typer.Context) -> bool:
    return isinstance(ctx.obj, Invocation) and ctx.obj.debug


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
