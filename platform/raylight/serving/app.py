"""The Serve application for one checkpoint: typed FastAPI routes, request batching, lineage.

The request schema is generated from the checkpoint's feature columns, so FastAPI validates
every body (and /docs shows the real fields) before the model sees it. `build_app` is the typed
application builder that `serve run` / `serve deploy` config files point at.
"""

from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    create_model,
    model_validator,
)
from ray import serve
from ray.serve import Application
from starlette.exceptions import HTTPException as StarletteHTTPException

import raylight
from raylight.components import ensure_importable
from raylight.serving.predictor import NonFiniteOutputError, Predictor
from raylight.serving.targets import Lineage, resolve_target
from raylight.spec.schema import ServeSpec
from raylight.training.checkpoints import read_meta


class ModelMetadata(BaseModel):
    """What /metadata answers: which model this is and where it came from."""

    model_name: str
    task: str
    features: list[str]
    checkpoint_path: str
    run_path: str | None
    trial_id: str | None
    epoch: int
    metric: str
    metrics: dict[str, float]
    spec_hash: str
    raylight_version: str


class ServeAppArgs(BaseModel):
    """Arguments of `build_app` in a Serve config file (`applications[].args`): one of the two."""

    model_config = ConfigDict(extra="forbid")
    spec_path: str | None = Field(
        default=None, description="Serve the latest run of this spec (relative: to the cwd)."
    )
    checkpoint_path: str | None = Field(default=None, description="A checkpoint directory.")

    @model_validator(mode="after")
    def _exactly_one(self) -> "ServeAppArgs":
        if (self.spec_path is None) == (self.checkpoint_path is None):
            raise ValueError("set exactly one of spec_path or checkpoint_path")
        return self


def build_app(args: ServeAppArgs) -> Application:
    """Typed application builder for Serve config files (`import_path: ...app:build_app`)."""
    target = resolve_target(args.spec_path or args.checkpoint_path or "")
    ensure_importable(target.project_root or Path.cwd())  # the model builder's module
    return build_application(target.checkpoint_path, target.serve_spec, target.lineage)


def build_application(
    checkpoint_path: Path, serve_spec: ServeSpec, lineage: Lineage
) -> Application:
    """Bind the deployment for `checkpoint_path` with the spec's replica and batch settings."""
    meta = read_meta(checkpoint_path)
    features = list(meta.parsed_preprocessing.feature_columns)
    example = meta.parsed_preprocessing.example_record
    request_body = _request_body(meta.parsed_spec.name, features, example, serve_spec)
    api = _fastapi(meta.parsed_spec.name)

    @serve.ingress(api)
    class ModelServer:
        def __init__(self, checkpoint: str, lineage: Lineage) -> None:
            self.predictor = Predictor(checkpoint)
            self.lineage = lineage
            # Warm-up: a replica that cannot predict its own example never reports healthy.
            self.predictor.predict([example] if example else [])

        @serve.batch(
            max_batch_size=serve_spec.max_batch_size,
            batch_wait_timeout_s=serve_spec.batch_wait_timeout_s,
        )
        async def predict_batch(self, requests: list[list[dict[str, float]]]) -> list[Any]:
            """Many requests, one model call: split the predictions back per request."""
            flat = [record for records in requests for record in records]
            predictions = self.predictor.predict(flat)
            out, start = [], 0
            for records in requests:
                out.append(predictions[start : start + len(records)])
                start += len(records)
            return out

        def check_health(self) -> None:
            """Serve calls this periodically; the model object must still be there."""
            if self.predictor.model is None:
                raise RuntimeError("model not loaded")

        @api.post("/predict")
        async def predict(self, body: request_body) -> dict[str, Any]:  # type: ignore[valid-type]
            records: list[Any] = body if isinstance(body, list) else [body]
            rows = [r.model_dump(by_alias=True) for r in records]
            predictions = await self.predict_batch(rows)
            if any(p is None for p in predictions):
                raise NonFiniteOutputError(
                    "the model's output is not finite for these inputs (values too large?)"
                )
            return {"predictions": predictions}

        @api.get("/healthz")
        async def healthz(self) -> dict[str, str]:
            return {"status": "ok"}

        @api.get("/metadata")
        async def metadata(self) -> ModelMetadata:
            return _metadata(self.predictor, self.lineage)

    deployment = serve.deployment(
        ModelServer,
        name=f"{meta.parsed_spec.name}-model",
        ray_actor_options={"num_cpus": serve_spec.cpus_per_replica},
        max_ongoing_requests=max(serve_spec.max_batch_size * 2, 8),
        **_replica_options(serve_spec),
    )
    return deployment.bind(str(checkpoint_path), lineage)  # type: ignore[attr-defined]


def _replica_options(spec: ServeSpec) -> dict[str, Any]:
    if spec.autoscaling is None:
        return {"num_replicas": spec.num_replicas}
    return {
        "num_replicas": "auto",
        "autoscaling_config": {
            "min_replicas": spec.autoscaling.min_replicas,
            "max_replicas": spec.autoscaling.max_replicas,
            "target_ongoing_requests": spec.autoscaling.target_ongoing_requests,
        },
    }


def _request_body(
    name: str, features: list[str], example: dict[str, float], spec: ServeSpec
) -> Any:
    """Record model (feature -> finite number, no extra keys); body is one record or a list."""
    # Bounded by float32, the model's input type: 1e308 is a finite JSON number but inf there.
    bound = float(np.finfo(np.float32).max)
    fields: dict[str, Any] = {
        f"f{i}": (float, Field(alias=feature, strict=True, ge=-bound, le=bound))
        for i, feature in enumerate(features)
    }
    record = create_model(
        f"{name.replace('-', '_').replace('.', '_').title()}Record",
        __config__=ConfigDict(
            extra="forbid",
            allow_inf_nan=False,
            json_schema_extra={"examples": [dict(example)]},
        ),
        **fields,
    )
    records = Annotated[
        list[record],  # type: ignore[valid-type]
        Field(min_length=1, max_length=spec.max_records_per_request),
    ]
    return Annotated[
        Annotated[record, Tag("record")] | Annotated[records, Tag("records")],
        Discriminator(lambda value: "records" if isinstance(value, list) else "record"),
    ]


def _fastapi(name: str) -> FastAPI:
    api = FastAPI(title=f"{name} (Raylight)", version=raylight.__version__)

    @api.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # The offending input is not echoed back: it may be huge, or NaN (not valid JSON).
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in error.errors()
        ]
        is_json_error = any(d["type"] == "json_invalid" for d in details)
        return JSONResponse(
            status_code=400 if is_json_error else 422,
            content=jsonable_encoder(
                {
                    "error": "body is not valid JSON" if is_json_error else "invalid request",
                    "detail": details,
                }
            ),
        )

    @api.exception_handler(NonFiniteOutputError)
    async def non_finite(request: Request, error: NonFiniteOutputError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"error": str(error)})

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            status_code=error.status_code,
            content={"error": str(error.detail)},
            headers=getattr(error, "headers", None),
        )

    return api


def _metadata(predictor: Predictor, lineage: Lineage) -> ModelMetadata:
    meta = predictor.meta
    spec = meta.parsed_spec
    return ModelMetadata(
        model_name=spec.name,
        task=predictor.preprocessing.task,
        features=list(predictor.preprocessing.feature_columns),
        checkpoint_path=str(predictor.checkpoint_path),
        run_path=lineage.run_path,
        trial_id=lineage.trial_id,
        epoch=meta.epoch,
        metric=lineage.metric or spec.train.metric,
        metrics=meta.metrics,
        spec_hash=meta.spec_hash,
        raylight_version=meta.raylight_version,
    )
