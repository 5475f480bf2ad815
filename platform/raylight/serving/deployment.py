"""run_serving: find the checkpoints, deploy them on Ray Serve, keep them up until stopped."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

import ray
from ray import serve

from raylight.cluster import ClusterInfo, connect, embedded_num_cpus
from raylight.errors import ClusterError, RaylightError, TargetError
from raylight.serving.app import build_application, read_token
from raylight.serving.ingress import Ingress, apply_ingress, choose_ingress, worker_setup_hook
from raylight.serving.targets import ServeTarget, resolve_target
from raylight.spec.schema import ServeSpec


@dataclass(frozen=True)
class ServingEndpoint:
    url: str
    app_name: str
    checkpoint_path: Path
    ingress: Ingress
    token_env: str | None = None  # the variable holding the bearer token, when auth is on

    @property
    def predict_url(self) -> str:
        return f"{self.url.rstrip('/')}/predict"


def max_replicas(spec: ServeSpec) -> int:
    return spec.autoscaling.max_replicas if spec.autoscaling else spec.num_replicas


def serve_cpus(spec: ServeSpec) -> float:
    """CPUs the replicas can hold at most (autoscaling counts at its maximum)."""
    return spec.cpus_per_replica * max_replicas(spec)


def side_by_side(targets: Sequence[ServeTarget]) -> list[ServeTarget]:
    """Several models in one Serve: distinct apps and routes, one HTTP host and port.

    A model left on the default route '/' is served at '/<name>' when it is not alone.
    """
    if len(targets) == 1:
        return list(targets)
    names = [t.app_name for t in targets]
    if len(set(names)) != len(names):
        raise TargetError(
            f"serve: two targets are both named {_first_repeat(names)!r}; serve one checkpoint "
            "per spec name (replace a model by serving the new one on its own)."
        )
    placed = [
        t
        if t.serve_spec.route != "/"
        else replace(t, serve_spec=t.serve_spec.model_copy(update={"route": f"/{t.app_name}"}))
        for t in targets
    ]
    routes = [t.serve_spec.route for t in placed]
    if len(set(routes)) != len(routes):
        raise TargetError(f"serve: two targets share the route {_first_repeat(routes)}.")
    listeners = {(t.serve_spec.host, t.serve_spec.port) for t in placed}
    if len(listeners) > 1:
        raise TargetError(
            "serve: the targets ask for different serve.host/serve.port "
            f"({sorted(listeners)}); Serve has one HTTP listener. Override them to match."
        )
    return placed


def _first_repeat(values: list[str]) -> str:
    return next(v for v in values if values.count(v) > 1)


def deploy(target: ServeTarget, ingress: Ingress | None = None) -> ServingEndpoint:
    """Deploy (or replace in place) on the Ray already connected; blocks until healthy.

    Deploying a target whose app already runs is a rolling update: Serve starts the new
    replicas, moves traffic once they are healthy, and drains the old ones.
    """
    spec = target.serve_spec
    token = read_token(spec)
    serve.start(http_options={"host": spec.host, "port": spec.port})
    app = build_application(target.checkpoint_path, spec, target.lineage, token)
    serve.run(app, name=target.app_name, route_prefix=spec.route)
    host = "127.0.0.1" if spec.host in ("0.0.0.0", "::") else spec.host
    route = "" if spec.route == "/" else spec.route
    return ServingEndpoint(
        url=f"http://{host}:{spec.port}{route}",
        app_name=target.app_name,
        checkpoint_path=target.checkpoint_path,
        ingress=ingress or Ingress("cluster", "Ray was already running"),
        token_env=spec.auth_token_env if token else None,
    )


def check_capacity(targets: Sequence[ServeTarget]) -> None:
    """Serve waits forever for replicas that cannot be placed, so that is refused up front."""
    resources = ray.cluster_resources()
    for unit, per_replica in (("CPU", "cpus_per_replica"), ("GPU", "gpus_per_replica")):
        needed = sum(
            getattr(t.serve_spec, per_replica) * max_replicas(t.serve_spec) for t in targets
        )
        have = resources.get(unit, 0.0)
        if needed > have:
            raise ClusterError(
                f"serve: the replicas need up to {needed:g} {unit}s; the cluster has {have:g}. "
                f"Lower serve.num_replicas, serve.autoscaling.max_replicas or serve.{per_replica}."
            )


def run_serving(
    targets: str | Path | ServeTarget | Sequence[str | Path | ServeTarget],
    *,
    overrides: Sequence[str] = (),
    address: str | None = None,
    verbose: bool = False,
    on_ready: Callable[[ServingEndpoint], None] | None = None,
    block: bool = True,
    ingress: Ingress | None = None,
    cluster: ClusterInfo | None = None,
) -> list[ServingEndpoint]:
    """Serve one or more checkpoints; with `block`, until SIGINT/SIGTERM, then shut down.

    A target is a spec file (its latest run), a run or checkpoint directory, or a ServeTarget;
    the overrides apply to each. `cluster`: a Ray the caller already connected (`run_workflow`).
    """
    many: list[str | Path | ServeTarget] = (
        list(targets) if isinstance(targets, list | tuple) else [targets]  # type: ignore[list-item]
    )
    if not many:
        raise TargetError("serve: no target (a spec file, run directory or checkpoint directory).")
    resolved = side_by_side(
        [t if isinstance(t, ServeTarget) else resolve_target(t, overrides) for t in many]
    )
    roots = {target.project_root or Path.cwd() for target in resolved}
    if len(roots) > 1:
        raise TargetError(
            f"serve: the targets come from different projects ({', '.join(map(str, roots))}); "
            "their replicas can import one project's model builders. Serve each on its own."
        )
    for target in resolved:
        read_token(target.serve_spec)  # a public host without a token fails before Ray starts
    ingress = ingress or prepare_ingress(resolved[0].serve_spec, address)
    with connect(
        address,
        num_cpus=embedded_num_cpus(sum(serve_cpus(t.serve_spec) for t in resolved) + 1),
        project_root=resolved[0].project_root or Path.cwd(),
        verbose=verbose,
        worker_setup_hook=worker_setup_hook(ingress),
        existing=cluster,
    ) as connected:
        endpoints: list[ServingEndpoint] = []
        # On a shared cluster an app that already ran is replaced in place and left running on
        # exit; only apps this command created are removed.
        existing = set(serve.status().applications) if not connected.is_embedded else set()
        try:
            with stop_on_signals():
                check_capacity(resolved)
                for target in resolved:
                    endpoints.append(deploy(target, ingress))
                    if on_ready:
                        on_ready(endpoints[-1])
                while block:
                    time.sleep(3600)
        except StopServing as stop:
            if len(endpoints) < len(resolved):
                raise RaylightError(f"stopped by {stop} before the endpoint was ready") from None
        finally:
            # An embedded Ray takes Serve down with it; on a shared cluster remove only ours.
            if block and not connected.is_embedded:
                for endpoint in endpoints:
                    if endpoint.app_name not in existing:
                        serve.delete(endpoint.app_name)
    return endpoints


def prepare_ingress(spec: ServeSpec, address: str | None) -> Ingress:
    """Pick the ingress for a Ray this process is about to start; a running one keeps its own."""
    if ray.is_initialized() or address or os.environ.get("RAY_ADDRESS"):
        return Ingress("cluster", "Ray was already running")
    ingress = choose_ingress(spec.ingress)
    apply_ingress(ingress)
    return ingress


class StopServing(Exception):
    """Raised in the main thread by SIGINT/SIGTERM so that Ray is shut down on the way out."""


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn Ctrl-C and SIGTERM (`kill`, Kubernetes, CI) into StopServing, even mid-deploy.

    ray.init installs a SIGTERM handler that calls sys.exit(15); installing ours after it
    makes a stop request a normal, clean exit.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        raise StopServing(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
