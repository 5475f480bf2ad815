"""`raylight serve TARGET... [overrides] [--export FILE]`: deploy on Ray Serve until interrupted."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from raylight.cli.common import ADDRESS, is_debug
from raylight.cli.output import console, print_endpoint
from raylight.errors import TargetError

OVERRIDE = re.compile(r"^[A-Za-z_]\w*(\.\w+)+=")


def split_targets(arguments: list[str]) -> tuple[list[str], list[str]]:
    """Targets and overrides: `dotted.path=value` that is not an existing file is an override."""
    paths = [a for a in arguments if not OVERRIDE.match(a) or Path(a).exists()]
    overrides = [a for a in arguments if a not in paths]
    if not paths:
        raise TargetError("serve: no target given, only overrides (a spec, run or checkpoint).")
    return paths, overrides


def serve(
    ctx: typer.Context,
    targets: list[str] = typer.Argument(
        ...,
        help="Spec files (their latest run), run directories or checkpoint directories, then "
        "optional dotted.path=value overrides (serve.* for checkpoints). Several targets are "
        "served side by side, each on its own route; serving a model that already runs on "
        "the cluster (--address) replaces it in place.",
        show_default=False,
    ),
    address: str | None = ADDRESS,
    export: Path | None = typer.Option(
        None,
        "--export",
        help="Write a Serve config for `serve run`/`serve deploy` (and a KubeRay RayService "
        "beside it) instead of serving.",
        dir_okay=False,
    ),
) -> None:
    """Serve checkpoints over HTTP (POST /predict, GET /healthz, /metadata, /docs); Ctrl-C stops."""
    paths, overrides = split_targets(targets)
    if export is not None:
        from raylight.serving.export import write_export

        config, service = write_export(export, paths, overrides, Path.cwd())
        console.print(f"wrote {config} (serve run / serve deploy) and {service} (KubeRay)")
        return

    from raylight.runs.checkpoints import read_meta
    from raylight.serving import run_serving
    from raylight.serving.smoke import curl_command

    served = []

    def ready(endpoint) -> None:  # type: ignore[no-untyped-def]
        preprocessing = read_meta(endpoint.checkpoint_path).parsed_preprocessing
        image = preprocessing.image.column if preprocessing.image else None
        curl = curl_command(
            endpoint.predict_url, preprocessing.example_record, endpoint.token_env, image
        )
        print_endpoint(endpoint, curl)
        served.append(endpoint)
        if len(served) == len(paths):
            console.print("serving until interrupted (Ctrl-C)")

    run_serving(paths, overrides=overrides, address=address, verbose=is_debug(ctx), on_ready=ready)
