"""A checkpointed report without the ranking metric fails the run there, naming what was
reported (the controller callback, called here as Ray Train's controller calls it)."""

from __future__ import annotations

import pytest

from raylight.errors import RunError
from raylight.training.reported_metric import MetricReported


def test_a_checkpoint_without_the_metric_is_refused_with_the_names_reported() -> None:
    check = MetricReported("val_accuracy")
    check.after_report(None, [{"loss": 0.5, "epoch": 1}], None)  # no checkpoint: not ranked
    check.after_report(None, [{"val_accuracy": 0.9}, {"other_rank": 1.0}], "a checkpoint")
    with pytest.raises(RunError, match=r"'val_accuracy' is not among .* \(accuracy, epoch, loss\)"):
        check.after_report(None, [{"loss": 0.4, "accuracy": 0.9, "epoch": 3}], "a checkpoint")
