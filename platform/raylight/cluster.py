"""The one place Raylight calls ray.init(): an embedded local Ray, or an existing cluster.

Also owns the process environment Ray reads at start-up (polling intervals, progress bars), the
one runtime-environment builder (the project importable on every worker, or uploaded with a
job), and the one lookup of the cluster's token.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from raylight.errors import ClusterError

# Read by Ray when a fit() / Ray Data / worker starts. setdefault: the user's own values win.
RAY_ENV_DEFAULTS = {
    # The Train controller polls workers every 2 s by default; that alone adds ~5 s per fit.
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.25",
    # Train V2 patches print() on workers, which shows every line twice in the driver.
    "RAY_TRAIN_ENABLE_PRINT_PATCH": "0",
    "RAY_DATA_DISABLE_PROGRESS_BARS": "1",
    # Tune snapshots its experiment state each time a trial has written num_to_keep checkpoints
    # and warns when that happens twice in 5 s, which every short in-process trial does. The
    # snapshot is a small local write; the warning (many lines per trial) is switched off.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}
UPLOAD_EXCLUDES = [".venv", ".git", "**/__pycache__", "**/.data", "*.egg-info", ".pytest_cache"]


@dataclass(frozen=True)
class Token:
    """The Ray cluster's token and where it was found (the value is never printed)."""

    value: str
    source: str  # where it was found, safe to show

    def __repr__(self) -> str:  # never let the value reach a log line or a traceback
        return f"Token(source={self.source!r})"


def find_token() -> Token | None:
    """The cluster token: RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH (~/.ray/auth_token)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return Token(os.environ["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN")
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", "~/.ray/auth_token")).expanduser()
    if path.is_file():
        return Token(path.read_text().strip(), str(path))
    return None


@dataclass(frozen=True)
class ClusterInfo:
    """The Ray a command runs on: where, how big, and whether this process started it."""

    address: str
    is_embedded: bool
    num_cpus: float
    num_gpus: float
    dashboard_url: str | None


def embedded_num_cpus(required: float) -> int:
    """Logical CPUs for an embedded Ray: the machine's cores, or more if the spec needs more.

    Ray CPUs are scheduling slots, not cores; overcommitting a small machine lets a 2-worker
    run plus a Serve replica start on 2 cores instead of waiting forever for a slot.
    """
    return max(os.cpu_count() or 1, math.ceil(required))


def local_num_gpus() -> int:
    """GPUs an embedded Ray would find on this machine (for plans made without starting Ray)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def apply_env_defaults() -> None:
    for key, value in RAY_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


@contextmanager
def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    project_root: Path | None = None,
    verbose: bool = False,
    env: Mapping[str, str] | None = None,
    worker_setup_hook: str | None = None,
    existing: ClusterInfo | None = None,
) -> Iterator[ClusterInfo]:
    """Start (or join) Ray for one command and shut it down after.

    Args:
        address: a Ray address (`host:port`, `auto`, `ray://...`); None uses RAY_ADDRESS, and
            without it an embedded single-node Ray is started for this command.
        num_cpus: logical CPUs of the embedded Ray (may exceed the cores: Ray CPUs are slots).
        project_root: made importable on every worker (builders live under it).
        verbose: show worker and actor logs in this terminal.
        env: the spec's run.env, set on every worker this command starts.
        worker_setup_hook: `module.function` every worker of an embedded Ray runs first.
        existing: the Ray a caller already connected (e.g. `run` = train, then serve, in one
            Ray): used as is and left running.

    If Ray is already initialized by someone else (a notebook, a test session, a Ray job's own
    driver), it is used as is and left running.
    """
    import ray

    apply_env_defaults()
    if existing is not None or ray.is_initialized():
        yield existing or _describe(address or "existing", is_embedded=False, dashboard_url=None)
        return
    ray_group: int | None = None
    target = address or os.environ.get("RAY_ADDRESS")
    if target:
        url = _join(address, project_root, verbose, env or {})
    else:
        runtime_env = build_runtime_env(project_root, env or {}, upload=False)
        if worker_setup_hook:
            runtime_env["worker_process_setup_hook"] = worker_setup_hook
        url, ray_group = _start_embedded(num_cpus, runtime_env, verbose)
    if not verbose:
        _quiet_ray_libraries()
    try:
        yield _describe(
            target or "local", is_embedded=not target, dashboard_url=url and f"http://{url}"
        )
    finally:
        ray.shutdown()
        _sweep(ray_group)


def _join(
    explicit: str | None, project_root: Path | None, verbose: bool, env: Mapping[str, str]
) -> str | None:
    """Connect to an existing cluster; return its dashboard address.

    An address given on the command line means this machine's files are not there: the project
    and Raylight are uploaded. From RAY_ADDRESS (inside a Ray job) the job's environment holds.
    """
    import ray

    address = explicit or os.environ["RAY_ADDRESS"]
    if address.startswith(("http://", "https://")):
        raise ClusterError(
            f"{address} is a dashboard (Jobs API) address; ray.init needs the GCS address "
            "(host:6379) or ray://host:10001. To run this spec on that cluster as a job, use "
            f"`raylight submit SPEC --address {address}`."
        )
    _enable_token_auth_if_available()
    try:
        context = ray.init(
            address=address,
            runtime_env=build_runtime_env(project_root, env, upload=True) if explicit else None,
            log_to_driver=verbose,
            logging_level=logging.WARNING,
        )
    except ConnectionError as error:
        raise ClusterError(
            f"cannot connect to Ray at {address}: {error}. If the cluster uses token "
            "authentication, set RAY_AUTH_TOKEN (or ~/.ray/auth_token) and RAY_AUTH_MODE=token."
        ) from None
    return context.dashboard_url


def _start_embedded(
    num_cpus: int | None, runtime_env: dict[str, object], verbose: bool
) -> tuple[str | None, int | None]:
    """Start a single-node Ray on this machine; return its dashboard and process group."""
    import ray

    with _separate_process_group() as ray_group:
        context = ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=True,
            dashboard_host="127.0.0.1",
            log_to_driver=verbose,
            logging_level=logging.WARNING,
            runtime_env=runtime_env,
        )
    return context.dashboard_url, ray_group


@contextmanager
def _separate_process_group() -> Iterator[int | None]:
    """Start the embedded Ray's processes in a process group of their own.

    A SIGTERM sent to our whole process group (`kill -- -PGID`, CI runners, process managers)
    would otherwise reach the GCS, raylet and dashboard at the same moment as this driver, and
    ray.shutdown() then waits ~8 s on a half-dead cluster. With Ray in its own group, only the
    driver gets the signal and shuts Ray down in order (~1 s). Ray already shields its children
    from SIGINT, so Ctrl-C behaves the same either way. Not possible when this process leads
    its own group (or session); then nothing changes.
    """
    original = os.getpgrp()
    if original == os.getpid():
        yield None
        return
    try:
        os.setpgid(0, 0)
    except OSError:
        yield None
        return
    try:
        yield os.getpid()
    finally:
        os.setpgid(0, original)


def _sweep(ray_group: int | None) -> None:
    """Kill what is left of the embedded Ray's group (agents that ignore SIGTERM linger)."""
    if ray_group is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(ray_group, signal.SIGKILL)


def _describe(address: str, *, is_embedded: bool, dashboard_url: str | None) -> ClusterInfo:
    import ray

    resources = ray.cluster_resources()
    return ClusterInfo(
        address=address,
        is_embedded=is_embedded,
        num_cpus=resources.get("CPU", 0.0),
        num_gpus=resources.get("GPU", 0.0),
        dashboard_url=dashboard_url,
    )


def build_runtime_env(
    project_root: Path | None,
    spec_env: Mapping[str, str],
    *,
    upload: bool,
    pip_packages: list[str] | None = None,
) -> dict[str, object]:
    """The runtime environment of every worker a command (or a submitted job) starts.

    Without `upload` the workers share this machine's files (an embedded Ray): the project goes
    on their PYTHONPATH. With it (a cluster joined by address, a job) the project is uploaded as
    the working directory and this Raylight package beside it. Either way the workers get Ray's
    defaults from RAY_ENV_DEFAULTS and the spec's run.env; `pip_packages` are installed there.
    """
    env_vars = {**RAY_ENV_DEFAULTS, **spec_env}
    env: dict[str, object] = {"env_vars": env_vars}
    if not upload:
        paths = [str(project_root)] if project_root else []
        if os.environ.get("PYTHONPATH"):
            paths.append(os.environ["PYTHONPATH"])
        if paths:
            env_vars["PYTHONPATH"] = os.pathsep.join(paths)
        return env
    import raylight

    env["py_modules"] = [str(Path(raylight.__file__).parent)]
    if project_root:
        env["working_dir"] = str(project_root)
        env["excludes"] = UPLOAD_EXCLUDES
    if pip_packages:
        env["pip"] = {"packages": pip_packages}
    return env


def _enable_token_auth_if_available() -> None:
    """Ray 2.60 clients send the cluster token only when RAY_AUTH_MODE=token is set."""
    if find_token() is not None:
        os.environ.setdefault("RAY_AUTH_MODE", "token")


def _quiet_ray_libraries() -> None:
    """Ray Data and Serve narrate every step at INFO in the driver; keep warnings and errors."""
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False
    for name in ("ray.data", "ray.serve"):
        logging.getLogger(name).setLevel(logging.WARNING)
