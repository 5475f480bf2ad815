"""A sweep whose driver is killed for real resumes when the same command runs again."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from tests.conftest import DIGITS_SPEC
from tests.processes import Background, env_with, group_alive, raylight, wait_for

EPOCHS = 3


def finished_trials(storage: Path) -> dict[str, int]:
    """Trials whose every epoch was reported, with their number of reported epochs."""
    counts = {
        path.parent.name: len(path.read_text().splitlines())
        for path in storage.glob("digits/tune-*/trials/*/metrics.jsonl")
    }
    return {trial: n for trial, n in counts.items() if n >= EPOCHS}


def test_killed_sweep_resumes_to_exactly_num_samples_without_rerunning(tmp_path: Path) -> None:
    args = [
        "tune",
        str(DIGITS_SPEC),
        f"run.storage_path={tmp_path}",
        "resources.num_workers=1",
        f"train.epochs={EPOCHS}",
        "tune.num_samples=4",
        "tune.max_concurrent_trials=2",
        "tune.scheduler={kind: fifo}",
    ]
    first = Background([sys.executable, "-m", "raylight", *args], env_with())
    try:
        wait_for(lambda: len(finished_trials(tmp_path)) >= 2, 600, "two finished trials")
    finally:
        # The driver and its embedded Ray share the driver's process group: SIGKILL all of it.
        first.kill()
    pgid = first.process.pid
    wait_for(lambda: not group_alive(pgid), 60, "the killed sweep's processes to end")
    done_before = finished_trials(tmp_path)
    assert len(done_before) >= 2

    second = raylight(*args, timeout_s=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "resuming" in second.stdout
    (sweep,) = tmp_path.glob("digits/tune-*")  # the same sweep, not a new one
    trials = pd.read_csv(sweep / "trials.csv")
    assert len(trials) == 4 and set(trials["status"]) == {"TERMINATED"}
    after = finished_trials(tmp_path)
    assert len(after) == 4
    for trial, epochs in done_before.items():
        assert after[trial] == epochs == EPOCHS, f"{trial} ran again"
