"""The test-only pause after a report: once per epoch, on rank 0, until released."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
import ray.train

from raylight.training.faults import (
    PAUSE_DIR_ENV,
    PAUSE_EPOCHS_ENV,
    install_pause_after_report,
    pausing,
)


def test_without_the_variables_report_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PAUSE_DIR_ENV, raising=False)
    monkeypatch.delenv(PAUSE_EPOCHS_ENV, raising=False)
    original = ray.train.report
    install_pause_after_report()
    assert ray.train.report is original


def test_rank_0_pauses_once_after_the_named_epoch_until_released(tmp_path: Path) -> None:
    reports: list[dict[str, Any]] = []
    report = pausing(lambda m, **_: reports.append(m), tmp_path, {2}, rank=lambda: 0)
    report({"epoch": 1})
    assert not list(tmp_path.iterdir())

    done = threading.Event()
    worker = threading.Thread(target=lambda: (report({"epoch": 2}, checkpoint=None), done.set()))
    worker.start()
    marker = tmp_path / "paused-2"
    for _ in range(200):
        if marker.exists():
            break
        done.wait(0.05)
    assert json.loads(marker.read_text()) == {"pid": os.getpid(), "epoch": 2}
    assert not done.wait(0.3), "went on without a release"
    (tmp_path / "release-2").touch()
    worker.join(timeout=5)
    assert done.is_set() and [m["epoch"] for m in reports] == [1, 2]

    report({"epoch": 2})  # a restarted group reporting epoch 2 again goes straight on
    assert [m["epoch"] for m in reports] == [1, 2, 2]


def test_other_ranks_never_pause(tmp_path: Path) -> None:
    report = pausing(lambda m, **_: None, tmp_path, {1}, rank=lambda: 1)
    report({"epoch": 1})
    assert not (tmp_path / "paused-1").exists()
