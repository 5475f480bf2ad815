"""run_serving: find the checkpoint to serve, deploy it on Ray Serve, keep it up until stopped."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import ray
from ray import serve

from raylight.cluster import connect, embedded_num_cpus
from raylight.components import ensure_importable
from raylight.errors import ClusterError, RaylightError
from raylight.serving.app import build_application
from raylight.serving.targets import ServeTarget, resolve_target
from raylight.spec.schema import ServeSpec


@dataclass(frozen=True)
class ServingEndpoint:
    url: str
    app_name: str
    checkpoint_path: Path

    @property
    def predict_url(self) -> str:
        return f"{self.url.rstrip('/')}/predict"


def serve_cpus(spec: ServeSpec) -> float:
    """CPUs the replicas can hold at most (autoscaling counts at its maximum)."""
    replicas = spec.autoscaling.max_replicas if spec.autoscaling else spec.num_replicas
    return spec.cpus_per_replica * replicas


def deploy(target: ServeTarget) -> ServingEndpoint:
    """Deploy on the Ray that is already connected; blocks until the replicas are healthy.

    Serve waits forever for replicas that cannot be placed, so that is refused up front.
    """
    spec = target.serve_spec
    num_cpus = ray.cluster_resources().get("CPU", 0.0)
    if serve_cpus(spec) > num_cpus:
        raise ClusterError(
            f"serve: the replicas need up to {serve_cpus(spec):g} CPUs "
            f"({spec.cpus_per_replica:g} per replica); the cluster has {num_cpus:g}. Lower "
            "serve.num_replicas, serve.autoscaling.max_replicas or serve.cpus_per_replica."
        )
    serve.start(http_options={"host": spec.host, "port": spec.port})
    app = build_application(target.checkpoint_path, spec, target.lineage)
    serve.run(app, name=target.app_name, route_prefix=spec.route)
    host = "127.0.0.1" if spec.host in ("0.0.0.0", "::") else spec.host
    route = "" if spec.route == "/" else spec.route
    return ServingEndpoint(
        url=f"http://{host}:{spec.port}{route}",
        app_name=target.app_name,
        checkpoint_path=target.checkpoint_path,
    )


def run_serving(
    target: str | Path | ServeTarget,
    *,
    overrides: Sequence[str] = (),
    address: str | None = None,
    verbose: bool = False,
    on_ready: Callable[[ServingEndpoint], None] | None = None,
    block: bool = True,
) -> ServingEndpoint:
    """Serve a checkpoint; with `block`, keep serving until SIGINT/SIGTERM, then shut down.

    `target` is a spec file (its latest run), a run or checkpoint directory, or a ServeTarget.
    """
    resolved = target if isinstance(target, ServeTarget) else resolve_target(target, overrides)
    # A checkpoint names its model builder by module path: import it from the project root.
    project_root = resolved.project_root or Path.cwd()
    ensure_importable(project_root)
    with connect(
        address,
        num_cpus=embedded_num_cpus(serve_cpus(resolved.serve_spec) + 1),
        project_root=project_root,
        verbose=verbose,
    ) as cluster:
        endpoint: ServingEndpoint | None = None
        try:
            with stop_on_signals():
                endpoint = deploy(resolved)
                if on_ready:
                    on_ready(endpoint)
                while block:
                    time.sleep(3600)
        except StopServing as stop:
            if endpoint is None:
                raise RaylightError(f"stopped by {stop} before the endpoint was ready") from None
        finally:
            # An embedded Ray takes Serve down with it; on a shared cluster remove only our app.
            if block and not cluster.is_embedded:
                serve.delete(resolved.app_name)
    assert endpoint is not None
    return endpoint


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
