"""Jobs on a real multi-node cluster (cluster/local/cluster.sh) with token authentication."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from raylight.cluster import RAY_ENV_DEFAULTS
from raylight.training.placement import read_placements
from tests.conftest import DIGITS_SPEC, ROOT, free_port
from tests.processes import env_with, raylight, wait_for

CLUSTER_SCRIPT = ROOT / "cluster" / "local" / "cluster.sh"


def cluster_env(dashboard_port: int, gcs_port: int) -> dict[str, str]:
    return env_with(
        RAY_DASHBOARD_PORT=str(dashboard_port),
        RAY_HEAD_PORT=str(gcs_port),
        RAY_HEAD_TEMP_DIR=f"/tmp/rl-head-{dashboard_port}",
    )


def cluster_script(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(CLUSTER_SCRIPT), *args], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, str]]:
    """A real 3-node cluster on 127.0.0.1: a head with 0 CPUs and two 3-CPU worker nodes."""
    env = cluster_env(free_port(), free_port())
    assert "cluster up: 1 head + 2 worker nodes" in cluster_script(env, "start")
    try:
        yield env
    finally:
        cluster_script(env, "stop")


@pytest.fixture(scope="module")
def head(cluster: dict[str, str]) -> str:
    return f"http://127.0.0.1:{cluster['RAY_DASHBOARD_PORT']}"


@pytest.fixture(scope="module")
def token(head: str) -> str:
    """The cluster's token (head.sh generates one if this machine had none)."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH", str(Path.home() / ".ray" / "auth_token"))
    return os.environ.get("RAY_AUTH_TOKEN") or Path(path).read_text().strip()


def submit(head: str, *command: str) -> tuple[str, str]:
    result = raylight("submit", str(DIGITS_SPEC), "--address", head, "--", *command)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"submitted (raylight-digits-\S+)", result.stdout)
    assert match, result.stdout
    return match.group(1), result.stdout + result.stderr


def status_of(head: str, job_id: str) -> str:
    result = raylight("jobs", "status", job_id, "--address", head)
    first_line = (result.stdout.splitlines() or [""])[0]
    assert first_line.startswith(f"{job_id}: "), result.stdout + result.stderr
    return first_line.split(": ", 1)[1]


def test_a_submitted_sweep_trains_its_trials_on_both_worker_nodes(
    head: str, tmp_path: Path
) -> None:
    job_id, _ = submit(
        head,
        "tune",
        f"run.storage_path={tmp_path}",
        "resources.num_workers=0",  # in-process trials: each trains in its own trial actor
        "train.epochs=2",
        "tune.num_samples=4",
        "tune.max_concurrent_trials=4",
        "tune.scheduler={kind: fifo}",
        "run.env={RAYLIGHT_EXAMPLE: sweep}",
    )
    waited = raylight("jobs", "wait", job_id, "--address", head, timeout_s=480)
    logs = raylight("jobs", "logs", job_id, "--address", head).stdout
    assert waited.returncode == 0, logs[-3000:]
    status = raylight("jobs", "status", job_id, "--address", head).stdout
    assert "git_commit" in status and "spec_hash" in status and "user" in status, status
    runtime_env = job_runtime_env_of(head, job_id)
    assert runtime_env["env_vars"] == {**RAY_ENV_DEFAULTS, "RAYLIGHT_EXAMPLE": "sweep"}
    (sweep,) = tmp_path.glob("digits/tune-*")
    history = pd.read_csv(sweep / "history.csv")
    assert history["trial_id"].nunique() == 4
    nodes = set(history["node_id"])
    assert len(nodes) == 2, nodes  # 4 one-CPU trials at once do not fit one 3-CPU node


def test_submitted_run_spreads_over_the_nodes_and_is_followed_through_a_node_failure(
    cluster: dict[str, str], head: str, token: str, tmp_path: Path
) -> None:
    job_id, submit_output = submit(
        head,
        "train",
        f"run.storage_path={tmp_path}",
        "resources.placement_strategy=SPREAD",
        "run.max_failures=1",
    )
    still_running = raylight("jobs", "wait", job_id, "--timeout", "0", "--address", head)
    assert still_running.returncode == 124 and "still running" in still_running.stdout
    wait_for(lambda: len(reported_epochs(tmp_path)) >= 2, 240, "epoch 2 of the job's run")
    first = read_placements(run_dir(tmp_path))[0]
    assert len(set(first.nodes)) == 2, first  # one worker on each worker node, observed

    # A crash of worker node 2 (its raylet and agents, SIGKILL); node 1 has room for both.
    assert "worker node 2 killed" in cluster_script(cluster, "kill-worker", "2")
    logs = raylight("jobs", "logs", "--follow", job_id, "--address", head, timeout_s=480)
    assert logs.returncode == 0, logs.stdout[-3000:] + logs.stderr[-2000:]
    waited = raylight("jobs", "wait", job_id, "--address", head)  # for CI: exit code = outcome
    assert waited.returncode == 0 and f"{job_id}: SUCCEEDED" in waited.stdout
    assert f"{job_id}: SUCCEEDED" in logs.stdout
    assert status_of(head, job_id) == "SUCCEEDED"

    placements = read_placements(run_dir(tmp_path))
    survivor = placements[-1]
    assert len(set(survivor.nodes)) == 1 and survivor.nodes[0] in first.nodes, placements
    assert "workers: 2 workers on 2 node(s)" in logs.stdout
    assert "workers: 2 workers on 1 node(s)" in logs.stdout  # the log says where it went
    epochs = reported_epochs(tmp_path)
    # Restarted from the latest checkpoint: epoch 1 ran once, and every epoch up to 15 ran.
    assert epochs.count(1) == 1 and set(epochs) == set(range(1, 16)), epochs
    assert "epoch 15/15" in logs.stdout
    accuracy = re.search(r"trained: val_accuracy (\d\.\d+)", logs.stdout)
    assert accuracy and float(accuracy.group(1)) >= 0.9, logs.stdout[-2000:]

    listing = raylight("jobs", "list", "--address", head)
    assert job_id in listing.stdout and "digits" in listing.stdout and "train" in listing.stdout
    # the job wrote its run where the spec said, on this machine's disk
    assert (tmp_path / "digits" / "latest.json").is_file()
    for output in (submit_output, logs.stdout, logs.stderr, listing.stdout):
        assert token not in output


def test_a_running_job_can_be_stopped(head: str, tmp_path: Path) -> None:
    job_id, _ = submit(head, "train", "train.epochs=500", f"run.storage_path={tmp_path}")
    wait_for(lambda: status_of(head, job_id) == "RUNNING", 120, f"{job_id} to run")
    stopped = raylight("jobs", "stop", job_id, "--address", head)
    assert stopped.returncode == 0 and "stop requested" in stopped.stdout
    waited = raylight("jobs", "wait", job_id, "--address", head, timeout_s=120)
    assert waited.returncode == 1 and f"{job_id}: STOPPED" in waited.stdout
    assert raylight("jobs", "status", job_id, "--address", head).returncode == 1


def test_a_wrong_token_is_refused_without_being_printed(head: str) -> None:
    result = raylight(
        "jobs", "list", "--address", head, env=env_with(RAY_AUTH_TOKEN="not-the-real-token")
    )
    assert result.returncode == 1
    assert "refused the request" in result.stderr and "RAY_AUTH_TOKEN" in result.stderr
    assert "not-the-real-token" not in result.stdout + result.stderr


def test_an_unreachable_cluster_is_one_line() -> None:
    result = raylight("jobs", "list", "--address", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "cannot reach the Ray dashboard" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_upload_over_rays_limit_names_the_biggest_files(head: str, tmp_path: Path) -> None:
    project = tmp_path / "project"  # a copy of the digits pipeline with a big file beside it
    shutil.copytree(
        ROOT / "pipelines", project / "pipelines", ignore=shutil.ignore_patterns(".data")
    )
    (project / "pyproject.toml").write_text("[project]\nname = 'big'\n")
    (project / "weights.bin").write_bytes(os.urandom(110 * 1024**2))  # incompressible
    (project / ".gitignore").write_text("ignored.bin\n")
    with open(project / "ignored.bin", "wb") as file:
        file.truncate(300 * 1024**2)  # never read: .gitignore keeps it out of the upload
    spec = project / "pipelines" / "digits" / "experiment.yaml"
    result = raylight("submit", str(spec), "--address", head, "--", "validate", timeout_s=300)
    assert result.returncode != 0
    assert "refused the upload" in result.stderr and "weights.bin" in result.stderr
    assert "110.0 MiB" in result.stderr and "ignored.bin" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_failing_job_fails_wait_and_says_why(head: str) -> None:
    # The job's driver refuses the storage before training: the storage preflight.
    job_id, _ = submit(head, "train", "run.storage_path=/proc/raylight-runs")
    waited = raylight("jobs", "wait", job_id, "--address", head, timeout_s=300)
    assert waited.returncode == 1 and f"{job_id}: FAILED" in waited.stdout
    logs = raylight("jobs", "logs", job_id, "--address", head)
    assert "run.storage_path /proc/raylight-runs is not writable here" in logs.stdout


def job_runtime_env_of(head: str, job_id: str) -> dict[str, object]:
    """What Ray recorded for the job (Ray's own client, with the cluster's token)."""
    from raylight.jobs.client import make_client

    return dict(make_client(head).get_job_info(job_id).runtime_env or {})


def run_dir(storage: Path) -> Path:
    (path,) = (storage / "digits").glob("train-*")
    return path


def reported_epochs(storage: Path) -> list[int]:
    paths = list((storage / "digits").glob("train-*/metrics.jsonl"))
    if not paths:
        return []
    lines = paths[0].read_text().splitlines()
    return [int(json.loads(line)["epoch"]) for line in lines if line.endswith("}")]
