"""run_serving: find the checkpoint to serve, deploy it on Ray Serve, keep it up until stopped."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ray import serve

from raylight.cluster import connect, embedded_num_cpus
from raylight.components import ensure_importable
from raylight.errors import RaylightError
from raylight.serving.app import Lineage, build_application
from raylight.spec import load_spec
from raylight.spec.schema import ServeSpec
from raylight.training.checkpoints import META_FILE, read_meta
from raylight.training.records import LATEST_FILE, RECORD_FILE, read_record


@dataclass(frozen=True)
class ServeTarget:
    """A checkpoint to serve, the Serve settings that apply to it, and its run lineage."""

    checkpoint_path: Path
    serve_spec: ServeSpec
    app_name: str
    lineage: Lineage
    project_root: Path | None = None


@dataclass(frozen=True)
class ServingEndpoint:
    url: str
    app_name: str
    checkpoint_path: Path

    @property
    def predict_url(self) -> str:
        return f"{self.url.rstrip('/')}/predict"


def resolve_target(target: str | Path, overrides: Sequence[str] = ()) -> ServeTarget:
    """A spec file (its latest run), a run directory, or a checkpoint directory."""
    path = Path(target).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        loaded = load_spec(path, overrides)
        record = read_record(loaded.storage_path / loaded.spec.name)
        return ServeTarget(
            checkpoint_path=Path(record.checkpoint_path),
            serve_spec=loaded.spec.serve,
            app_name=loaded.spec.name,
            lineage=Lineage(run_path=record.run_path, trial_id=record.trial_id),
            project_root=loaded.project_root,
        )
    if (path / META_FILE).is_file():
        spec = read_meta(path).parsed_spec
        return ServeTarget(path.resolve(), spec.serve, spec.name, Lineage())
    if (path / RECORD_FILE).is_file() or (path / LATEST_FILE).is_file():
        record = read_record(path)
        spec = read_meta(Path(record.checkpoint_path)).parsed_spec
        lineage = Lineage(run_path=record.run_path, trial_id=record.trial_id)
        return ServeTarget(Path(record.checkpoint_path), spec.serve, spec.name, lineage)
    raise RaylightError(
        f"{target}: not a spec file, a run directory or a Raylight checkpoint directory."
    )


def deploy(target: ServeTarget) -> ServingEndpoint:
    """Deploy on the Ray that is already connected; blocks until the replicas are healthy."""
    spec = target.serve_spec
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
    target: str | Path,
    *,
    overrides: Sequence[str] = (),
    address: str | None = None,
    verbose: bool = False,
    on_ready: Callable[[ServingEndpoint], None] | None = None,
    block: bool = True,
) -> ServingEndpoint:
    """Serve a checkpoint; with `block`, keep serving until SIGINT/SIGTERM, then shut down."""
    resolved = resolve_target(target, overrides)
    if resolved.project_root:
        ensure_importable(resolved.project_root)
    with connect(
        address,
        num_cpus=embedded_num_cpus(resolved.serve_spec.cpus_per_replica * 4 + 1),
        project_root=resolved.project_root,
        verbose=verbose,
    ):
        endpoint = deploy(resolved)
        try:
            if on_ready:
                on_ready(endpoint)
            if block:
                wait_for_stop_signal()
        finally:
            if block:
                serve.shutdown()
    return endpoint


def wait_for_stop_signal() -> None:
    """Sleep until Ctrl-C or SIGTERM (what `kill`, Kubernetes and CI send)."""
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
