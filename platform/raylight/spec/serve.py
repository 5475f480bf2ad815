"""The `serve` section: the HTTP endpoint, its batching, limits and autoscaling."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from raylight.spec.base import Section


class AutoscalingSpec(Section):
    """Serve's request-based autoscaler; the defaults react to a load step within seconds.

    Serve's own defaults (upscale after 30 s, downscale after 600 s, a 30 s window) suit large
    clusters; these suit an endpoint that should follow its traffic.
    """

    min_replicas: int = Field(default=1, ge=0, description="Replicas kept when idle (0 allowed).")
    max_replicas: int = Field(default=2, ge=1, description="Upper bound on replicas.")
    target_ongoing_requests: float = Field(
        default=4, gt=0, description="In-flight requests per replica that autoscaling aims for."
    )
    upscale_delay_s: float = Field(
        default=2.0, ge=0, description="Load must stay above target this long before scaling up."
    )
    downscale_delay_s: float = Field(
        default=30.0, ge=0, description="Load must stay below target this long before scaling down."
    )
    look_back_period_s: float = Field(
        default=10.5,
        gt=10,
        description="Window (s) over which load is averaged; Serve needs more than its 10 s "
        "metrics interval.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"serve.autoscaling.min_replicas ({self.min_replicas}) exceeds max_replicas "
                f"({self.max_replicas})."
            )
        return self


class ServeSpec(Section):
    host: str = Field(
        default="127.0.0.1", description="HTTP bind address; anything else exposes the endpoint."
    )
    port: int = Field(default=8000, ge=1, le=65535, description="HTTP port.")
    route: str = Field(
        default="/",
        pattern=r"^/([\w.-]+(/[\w.-]+)*)?$",
        description="Route prefix: '/' or '/a/b' (no trailing slash, as Serve requires).",
    )
    num_replicas: int = Field(default=1, ge=1, description="Replicas when autoscaling is off.")
    autoscaling: AutoscalingSpec | None = Field(
        default=None, description="Set to scale replicas with load (overrides num_replicas)."
    )
    cpus_per_replica: float = Field(default=0.5, gt=0, description="CPUs reserved per replica.")
    max_batch_size: int = Field(
        default=32,
        ge=1,
        description="Requests gathered into one model call (each may hold several records).",
    )
    batch_wait_timeout_s: float = Field(
        default=0.0,
        ge=0,
        description="How long a batch waits to fill, in seconds. 0: take the requests already "
        "waiting (they pile up while the model runs, so batches form under load without "
        "delaying a lone request).",
    )
    max_records_per_request: int = Field(
        default=1024, ge=1, description="Longer request bodies are refused with 422."
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Larger request bodies are refused with 413."
    )
    max_image_pixels: int = Field(
        default=40_000_000,
        ge=1,
        description="An uploaded image larger than this (width x height, read from its header "
        "before decoding) is refused with 422: decompression bombs never reach memory.",
    )
    request_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A prediction not answered in this time gets 503 with Retry-After.",
    )
    max_ongoing_requests: int | None = Field(
        default=None,
        ge=1,
        description="Requests one replica works on at once (default: 2 x max_batch_size, at "
        "least 8).",
    )
    max_queued_requests: int = Field(
        default=256,
        ge=1,
        description="Requests waiting for a replica beyond which new ones get 503 with "
        "Retry-After (overload), instead of an ever longer queue.",
    )
    gpus_per_replica: float = Field(
        default=0.0, ge=0, description="GPUs per replica; the model runs on the GPU when > 0."
    )
    ingress: Literal["auto", "haproxy", "proxy"] = Field(
        default="auto",
        description="HTTP ingress when Raylight starts Ray: 'haproxy' (Serve's HAProxy ingress, "
        "needs the haproxy binary), 'proxy' (Serve's default proxy), or 'auto' (HAProxy when the "
        "binary is found).",
    )
    auth_token_env: str = Field(
        default="RAYLIGHT_SERVE_TOKEN",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding a bearer token; when it is set, every route "
        "but /healthz needs `Authorization: Bearer <token>`. The token never goes in a spec.",
    )
    allow_public: bool = Field(
        default=False,
        description="Allow a host other than 127.0.0.1/localhost without a token configured.",
    )
