"""`raylight serve SPEC|RUN_DIR|CHECKPOINT [overrides]`: deploy on Ray Serve until interrupted."""

from __future__ import annotations

import typer

from raylight.cli.common import ADDRESS, OVERRIDES, Flags
from raylight.cli.output import console, print_endpoint


def serve(
    target: str = typer.Argument(
        ...,
        help="Spec file (its latest run), run directory, or checkpoint directory.",
        show_default=False,
    ),
    overrides: list[str] = OVERRIDES,
    address: str | None = ADDRESS,
) -> None:
    """Serve a checkpoint over HTTP (POST /predict, GET /healthz, GET /metadata); Ctrl-C stops."""
    from raylight.serving import run_serving
    from raylight.serving.smoke import curl_command
    from raylight.training.checkpoints import read_meta

    def ready(endpoint) -> None:  # type: ignore[no-untyped-def]
        example = read_meta(endpoint.checkpoint_path).parsed_preprocessing.example_record
        print_endpoint(endpoint, curl_command(endpoint.predict_url, example))
        console.print("serving until interrupted (Ctrl-C)")

    run_serving(
        target, overrides=overrides or [], address=address, verbose=Flags.debug, on_ready=ready
    )
