"""A loop's checkpointed report without the spec's metric fails there, naming what it reported."""

from __future__ import annotations

from typing import Any

import pytest

from raylight.errors import RunError
from raylight.training.reported_metric import checking_metric


def test_a_checkpoint_without_the_metric_is_refused_with_the_names_reported() -> None:
    passed: list[dict[str, Any]] = []
    report = checking_metric(lambda metrics, *a, **k: passed.append(metrics), "val_accuracy")
    report({"loss": 0.5, "epoch": 1})  # no checkpoint: nothing is ranked by it yet
    report({"val_accuracy": 0.9, "epoch": 1}, checkpoint="a checkpoint")
    report({"val_accuracy": 0.9, "epoch": 2}, "a checkpoint")  # positional, as Ray allows
    assert len(passed) == 3
    with pytest.raises(RunError, match=r"'val_accuracy' is not among .* \(accuracy, epoch, loss\)"):
        report({"loss": 0.4, "accuracy": 0.9, "epoch": 3}, checkpoint="a checkpoint")
    assert len(passed) == 3  # refused before Ray Train saw it
