"""`raylight train --resume` after the driver was killed for real continues the same run."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DIGITS_SPEC
from tests.e2e.conftest import Background, env_with, raylight

pytestmark = pytest.mark.e2e

# Smaller batches than the shipped spec: epochs long enough (~1 s) to kill the driver mid-run.
ARGS = ["train.epochs=10", "train.batch_size=16"]
TOLERANCE = 0.03


def epochs_reported(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return [int(json.loads(line)["epoch"]) for line in lines if line.endswith("}")]


def final_metric(stdout: str) -> float:
    match = re.search(r"trained: val_accuracy ([0-9.]+)", stdout)
    assert match, stdout[-3000:]
    return float(match.group(1))


def test_killed_driver_resumes_the_same_run_from_its_checkpoint(tmp_path: Path) -> None:
    baseline = raylight("train", str(DIGITS_SPEC), f"run.storage_path={tmp_path / 'a'}", *ARGS)
    assert baseline.returncode == 0, baseline.stdout[-3000:] + baseline.stderr[-3000:]

    storage = tmp_path / "b"
    args = ["train", str(DIGITS_SPEC), f"run.storage_path={storage}", *ARGS]
    first = Background([sys.executable, "-m", "raylight", *args], env_with())
    deadline = time.monotonic() + 300
    runs: list[Path] = []
    try:
        while not (runs and max(epochs_reported(runs[0]), default=0) >= 3):
            assert time.monotonic() < deadline and first.process.poll() is None, first.output
            runs = list(storage.glob("digits/train-*"))
            time.sleep(0.1)
    finally:
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=30)
        with pytest.raises(ProcessLookupError):  # the embedded Ray's group has the driver's pid
            while True:
                os.killpg(first.process.pid, signal.SIGKILL)
    (run,) = runs
    killed_at = max(epochs_reported(run))
    assert killed_at < 10, "the run had finished before the kill"

    second = raylight(*args, "--resume", timeout_s=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"resuming {run}" in second.stdout.replace("\n", "")  # rich folds long lines
    assert list(storage.glob("digits/train-*")) == [run]  # the same run, not a new one
    history = epochs_reported(run)
    assert history.count(1) == 1 and history[-1] == 10 and set(history) == set(range(1, 11))
    print(f"killed after epoch {killed_at}; epochs reported {history}")
    assert abs(final_metric(second.stdout) - final_metric(baseline.stdout)) <= TOLERANCE
