"""The Serve application for one checkpoint: typed FastAPI routes, request batching, lineage.

`build_app` is the typed application builder that `serve run` / `serve deploy` config files
(and `raylight serve --export`) point at; `build_application` is what `raylight serve` deploys.
"""

import asyncio
import os
from pathlib import Path
from typing import Any

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from ray import serve
from ray.serve import Application

from raylight.errors import TargetError
from raylight.runs.checkpoints import read_meta
from raylight.runs.provenance import package_versions
from raylight.serving.http import make_api, token_digest
from raylight.serving.predictor import (
    Inputs,
    NonFiniteOutputError,
    Predictor,
    concat_inputs,
    rows_of,
)
from raylight.serving.requests import BodyReader, openapi_body
from raylight.serving.schemas import (
    ErrorResponse,
    ModelMetadata,
    PredictResponse,
    ReplicaStats,
    input_kinds,
    request_body,
)
from raylight.serving.targets import Lineage, resolve_target
from raylight.spec.schema import ServeSpec

RETRY_AFTER_S = 1  # what an overloaded or timed-out endpoint tells clients to wait
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 422, 503)
}
ERRORS_WITH_MEDIA = {**ERRORS, 415: {"model": ErrorResponse}}
PROBABILITIES = Query(False, description="Add every class's probability to each prediction.")


class ServeAppArgs(BaseModel):
    """Arguments of `build_app` in a Serve config file (`applications[].args`)."""

    model_config = ConfigDict(extra="forbid")
    spec_path: str | None = Field(
        default=None, description="Serve the latest run of this spec (relative: to the cwd)."
    )
    checkpoint_path: str | None = Field(default=None, description="A checkpoint directory.")
    overrides: list[str] = Field(
        default_factory=list, description="serve.* overrides, as on the command line."
    )
    require_token: bool = Field(
        default=False,
        description="Refuse to start without the token (a config whose HTTP host is public, "
        "e.g. a RayService, where the spec's own serve.host does not apply).",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> "ServeAppArgs":
        if (self.spec_path is None) == (self.checkpoint_path is None):
            raise ValueError("set exactly one of spec_path or checkpoint_path")
        return self


def build_app(args: ServeAppArgs) -> Application:
    """Typed application builder for Serve config files (`import_path: ...app:build_app`)."""
    target = resolve_target(args.spec_path or args.checkpoint_path or "", args.overrides)
    spec = target.serve_spec
    token = read_token(spec)
    if args.require_token and token is None:
        raise TargetError(
            f"{target.app_name}: this config serves on a public host and needs a bearer token "
            f"in {spec.auth_token_env}, which is not set (or empty)."
        )
    return build_application(target.checkpoint_path, spec, target.lineage, token)


def read_token(spec: ServeSpec) -> str | None:
    """The bearer token from `serve.auth_token_env`; refuses a public host without one."""
    token = os.environ.get(spec.auth_token_env) or None
    if (
        token is None
        and spec.host not in ("127.0.0.1", "localhost", "::1")
        and not spec.allow_public
    ):
        raise TargetError(
            f"serve.host {spec.host} exposes the endpoint beyond this machine without a token: "
            f"set {spec.auth_token_env} (a bearer token), or serve.allow_public=true to serve "
            "unauthenticated on purpose."
        )
    return token


def build_application(
    checkpoint_path: Path, serve_spec: ServeSpec, lineage: Lineage, token: str | None = None
) -> Application:
    """Bind the deployment for `checkpoint_path` with the spec's replica, batch and HTTP rules."""
    meta = read_meta(checkpoint_path)
    name = meta.parsed_spec.name
    preprocessing = meta.parsed_preprocessing
    example = preprocessing.example_record
    body_model = request_body(name, preprocessing, serve_spec)
    # An image model's /predict also takes multipart uploads, so it reads its body itself.
    reader = BodyReader(body_model, preprocessing) if preprocessing.image else None
    has_media = bool(preprocessing.image or preprocessing.text)
    api = make_api(
        name,
        max_body_bytes=serve_spec.max_body_bytes,
        token_sha256=token_digest(token) if token else None,
    )
    timeout_s = serve_spec.request_timeout_s

    @serve.ingress(api)
    class ModelServer:
        def __init__(self, checkpoint: str, lineage: Lineage, gpus: float) -> None:
            import torch

            device = "cuda" if gpus > 0 and torch.cuda.is_available() else "cpu"
            self.predictor = Predictor(
                checkpoint, device=device, max_image_pixels=serve_spec.max_image_pixels
            )
            self.lineage = lineage
            self.counters = ReplicaStats(
                replica=serve.get_replica_context().replica_tag,
                requests=0,
                model_calls=0,
                largest_batch=0,
                batched_calls=0,
            )
            # Warm-up: until this prediction succeeds the replica takes no traffic, so
            # /healthz (and every route) answers only once the model really predicts.
            self._check_model()

        def _check_model(self) -> None:
            if example and self.predictor.predict([example])[0] is None:
                raise RuntimeError("the model's output for its own example is not finite")

        @serve.batch(
            max_batch_size=serve_spec.max_batch_size,
            batch_wait_timeout_s=serve_spec.batch_wait_timeout_s,
        )
        async def predict_batch(self, requests: list[tuple[Inputs, bool]]) -> list[Any]:
            """Many requests, one model call: split the predictions back per request."""
            inputs = concat_inputs([encoded for encoded, _ in requests])
            wanted = [want for encoded, want in requests for _ in range(rows_of(encoded))]
            # Off the event loop: a model call holding the loop would also hold every waiting
            # request's timeout (serve.request_timeout_s), /healthz and new arrivals until done.
            predictions = await asyncio.to_thread(self.predictor.predict_inputs, inputs, wanted)
            self.counters.model_calls += 1
            self.counters.requests += len(requests)
            self.counters.largest_batch = max(self.counters.largest_batch, len(requests))
            self.counters.batched_calls += len(requests) > 1
            out, start = [], 0
            for encoded, _ in requests:
                rows = rows_of(encoded)
                out.append(predictions[start : start + rows])
                start += rows
            return out

        async def answer(self, rows: list[dict[str, Any]], probabilities: bool) -> dict[str, Any]:
            """Encode the records (images decoded off the loop), then predict in a batch."""
            if has_media:
                encoded = await asyncio.to_thread(self.predictor.encode, rows)
            else:
                encoded = self.predictor.encode(rows)
            try:
                predictions = await asyncio.wait_for(
                    self.predict_batch((encoded, probabilities)), timeout_s
                )
            except asyncio.TimeoutError:
                from fastapi import HTTPException

                raise HTTPException(
                    503,
                    f"no prediction within serve.request_timeout_s ({timeout_s:g} s); retry",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                ) from None
            if any(p is None for p in predictions):
                raise NonFiniteOutputError(
                    "the model's output is not finite for these inputs (values too large?)"
                )
            return {"predictions": predictions}

        def check_health(self) -> None:
            """Serve calls this periodically; a replica that cannot predict is replaced."""
            self._check_model()

        if reader is None:

            @api.post(
                "/predict",
                response_model=PredictResponse,
                response_model_exclude_none=True,
                responses=ERRORS,
            )
            async def predict(
                self,
                body: body_model,  # type: ignore[valid-type]
                probabilities: bool = PROBABILITIES,
            ) -> dict[str, Any]:
                records: list[Any] = body if isinstance(body, list) else [body]
                rows = [r.model_dump(by_alias=True) for r in records]
                return await self.answer(rows, probabilities)

        else:

            @api.post(
                "/predict",
                response_model=PredictResponse,
                response_model_exclude_none=True,
                responses=ERRORS_WITH_MEDIA,
                openapi_extra=openapi_body(body_model, preprocessing),
            )
            async def predict(  # type: ignore[misc]
                self, request: Request, probabilities: bool = PROBABILITIES
            ) -> dict[str, Any]:
                """JSON records (base64 images), or one multipart upload (curl -F image=@f)."""
                return await self.answer(await reader.records(request), probabilities)

        @api.get("/healthz")
        async def healthz(self) -> dict[str, str]:
            return {"status": "ok", "device": self.predictor.device}

        @api.get("/metadata", responses=ERRORS)
        async def metadata(self) -> ModelMetadata:
            return _metadata(self.predictor, self.lineage)

        @api.get("/stats", responses=ERRORS)
        async def stats(self) -> ReplicaStats:
            return self.counters

    deployment = serve.deployment(
        ModelServer,
        name=f"{name}-model",
        ray_actor_options={
            "num_cpus": serve_spec.cpus_per_replica,
            "num_gpus": serve_spec.gpus_per_replica,
        },
        max_ongoing_requests=max_ongoing_requests(serve_spec),
        max_queued_requests=serve_spec.max_queued_requests,
        backpressure_config={"status_code": 503, "retry_after_s": RETRY_AFTER_S},
        health_check_period_s=5,
        health_check_timeout_s=30,
        **_replica_options(serve_spec),
    )
    return deployment.bind(  # type: ignore[attr-defined]
        str(checkpoint_path), lineage, serve_spec.gpus_per_replica
    )


def max_ongoing_requests(spec: ServeSpec) -> int:
    """Enough in flight per replica to fill a batch twice over (Serve's default is 5)."""
    return spec.max_ongoing_requests or max(spec.max_batch_size * 2, 8)


def _replica_options(spec: ServeSpec) -> dict[str, Any]:
    if spec.autoscaling is None:
        return {"num_replicas": spec.num_replicas}
    scaling = spec.autoscaling
    return {
        "num_replicas": "auto",
        "autoscaling_config": {
            "min_replicas": scaling.min_replicas,
            "initial_replicas": max(scaling.min_replicas, 1),
            "max_replicas": scaling.max_replicas,
            "target_ongoing_requests": scaling.target_ongoing_requests,
            "upscale_delay_s": scaling.upscale_delay_s,
            "downscale_delay_s": scaling.downscale_delay_s,
            "look_back_period_s": scaling.look_back_period_s,
        },
    }


def _metadata(predictor: Predictor, lineage: Lineage) -> ModelMetadata:
    meta = predictor.meta
    spec = meta.parsed_spec
    metric = lineage.metric or spec.train.metric
    return ModelMetadata(
        model_name=spec.name,
        task=predictor.preprocessing.task,
        features=list(predictor.preprocessing.feature_columns),
        inputs=input_kinds(predictor.preprocessing),
        pretrained=meta.pretrained,
        checkpoint_path=str(predictor.checkpoint_path),
        run_path=lineage.run_path,
        trial_id=lineage.trial_id,
        epoch=meta.epoch,
        metric=metric,
        metric_value=meta.metrics.get(metric),
        metrics=meta.metrics,
        spec_hash=meta.spec_hash,
        git_commit=lineage.git_commit,
        data_fingerprint=predictor.preprocessing.data_fingerprint,
        packages=lineage.packages,
        serving_packages=package_versions(),
        raylight_version=meta.raylight_version,
        device=predictor.device,
    )
