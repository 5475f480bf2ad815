"""The `raylight` command: verbs registered on one Typer app; user errors without tracebacks."""

from __future__ import annotations

import logging
import os
import sys
import traceback

import typer

from raylight.cli import jobs, run, serve, submit, train, tune, validate
from raylight.cli.common import Invocation
from raylight.cli.output import print_error
from raylight.errors import RaylightError, SpecError

app = typer.Typer(
    name="raylight",
    help="One experiment spec drives data -> train -> tune -> serve on Ray. Add --debug to any "
    "command for tracebacks and worker logs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(validate.validate)
app.command()(validate.schema)
app.command()(train.train)
app.command()(tune.tune)
app.command()(serve.serve)
app.command()(run.run)
app.command()(submit.submit)
app.add_typer(jobs.app, name="jobs")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("RAYLIGHT_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    code = _run(args, Invocation(debug=debug))
    # Ray is shut down by now. Tearing down the interpreter (gRPC, torch and Ray's native
    # modules) adds ~3 s to every exit and to every Ctrl-C; nothing is left that needs it.
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def _run(args: list[str], invocation: Invocation) -> int:
    try:
        result = app(args=args, prog_name="raylight", standalone_mode=False, obj=invocation)
        return result if isinstance(result, int) else 0
    except SpecError as error:
        print_error(error.message)
        return error.exit_code
    except RaylightError as error:
        if invocation.debug:
            traceback.print_exc()
        print_error(
            error.message, hint=None if invocation.debug else "Run with --debug for a traceback."
        )
        return error.exit_code
    except typer.Exit as done:
        return int(done.exit_code)
    except typer.TyperException as error:  # usage errors: typer prints them the way click does
        error.show()  # type: ignore[attr-defined]
        return int(getattr(error, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        print_error("interrupted")
        return 130
    except Exception as error:
        if invocation.debug:
            traceback.print_exc()
        first_line = (str(error).strip().splitlines() or [""])[0]
        print_error(
            f"{type(error).__name__}: {first_line}",
            hint="This is not a spec problem. Run with --debug for the traceback and worker logs.",
        )
        return 1
