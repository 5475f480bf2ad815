"""Job submission to a real head node (cluster/local/head.sh) with token authentication."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DIGITS_SPEC, ROOT, free_port
from tests.e2e.conftest import env_with, raylight, wait_for

pytestmark = pytest.mark.e2e

HEAD_SCRIPT = ROOT / "cluster" / "local" / "head.sh"


def head_env(dashboard_port: int, gcs_port: int) -> dict[str, str]:
    return env_with(
        RAY_DASHBOARD_PORT=str(dashboard_port),
        RAY_HEAD_PORT=str(gcs_port),
        RAY_HEAD_CPUS="4",
        RAY_HEAD_TEMP_DIR=f"/tmp/rl-head-{dashboard_port}",
    )


@pytest.fixture(scope="module")
def head() -> Iterator[str]:
    dashboard_port, gcs_port = free_port(), free_port()
    env = head_env(dashboard_port, gcs_port)
    started = subprocess.run(
        [str(HEAD_SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=180
    )
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield f"http://127.0.0.1:{dashboard_port}"
    finally:
        stopped = subprocess.run(
            [str(HEAD_SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120
        )
        assert stopped.returncode == 0, stopped.stderr


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


def test_submitted_train_job_is_followed_to_success(head: str, token: str, tmp_path: Path) -> None:
    job_id, submit_output = submit(head, "train", "train.epochs=2", f"run.storage_path={tmp_path}")
    still_running = raylight("jobs", "wait", job_id, "--timeout", "0", "--address", head)
    assert still_running.returncode == 124 and "still running" in still_running.stdout
    logs = raylight("jobs", "logs", "--follow", job_id, "--address", head, timeout_s=600)
    assert logs.returncode == 0, logs.stdout[-3000:] + logs.stderr[-2000:]
    waited = raylight("jobs", "wait", job_id, "--address", head)  # for CI: exit code = outcome
    assert waited.returncode == 0 and f"{job_id}: SUCCEEDED" in waited.stdout
    assert "epoch 2/2" in logs.stdout and "trained: val_accuracy" in logs.stdout
    assert f"{job_id}: SUCCEEDED" in logs.stdout
    assert status_of(head, job_id) == "SUCCEEDED"
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
