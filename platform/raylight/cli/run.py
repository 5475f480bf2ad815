"""`raylight run SPEC`: tune (or train), serve the best checkpoint, send it one real request."""

from __future__ import annotations

from pathlib import Path

import typer

from raylight.cli.common import ADDRESS, OVERRIDES, SPEC, is_debug
from raylight.cli.output import (
    console,
    print_endpoint,
    print_epoch,
    print_status,
    print_training,
    print_trial,
    print_tuning,
)
from raylight.components import load_checked


def run(
    ctx: typer.Context,
    spec: Path = SPEC,
    overrides: list[str] = OVERRIDES,
    address: str | None = ADDRESS,
    detach_after_smoke: bool = typer.Option(
        False, "--detach-after-smoke", help="Exit after the smoke request instead of serving on."
    ),
) -> None:
    """The whole path: data -> train or tune -> serve -> one smoke request; then keep serving."""
    from raylight.runs.checkpoints import read_meta
    from raylight.serving.deployment import ServingEndpoint
    from raylight.serving.smoke import curl_command, smoke_request
    from raylight.training import TrainingResult
    from raylight.workflow import run_workflow

    loaded = load_checked(spec, overrides)
    mode = "tuning" if loaded.spec.tune else "training"
    console.print(f"[bold]{loaded.spec.name}[/]: {mode}, then serving the best checkpoint")

    def trained(result: object) -> None:
        if isinstance(result, TrainingResult):
            print_training(result)
        else:
            print_tuning(result)  # type: ignore[arg-type]

    def ready(endpoint: ServingEndpoint) -> None:
        preprocessing = read_meta(endpoint.checkpoint_path).parsed_preprocessing
        example = preprocessing.example_record
        answer = smoke_request(endpoint.predict_url, example, endpoint.token_env)
        console.print(f"smoke request: HTTP 200 {answer}")
        image = preprocessing.image.column if preprocessing.image else None
        curl = curl_command(endpoint.predict_url, example, endpoint.token_env, image)
        print_endpoint(endpoint, curl)
        if not detach_after_smoke:
            console.print("serving until interrupted (Ctrl-C)")

    run_workflow(
        loaded,
        address=address,
        verbose=is_debug(ctx),
        block=not detach_after_smoke,
        on_epoch=print_epoch(loaded.spec.train.epochs, loaded.spec.train.metric),
        on_trial=print_trial,
        on_status=print_status,
        on_trained=trained,
        on_ready=ready,
    )
