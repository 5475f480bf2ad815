"""The metric that ranks a run's checkpoints, checked at the first report that lacks it.

Checkpoints are ranked, runs early-stopped and trials scheduled by one metric (`train.metric`,
or `tune.metric` inside a sweep); a loop that never reports it would train to the end and then
fail. This controller callback fails the run at its first checkpointed report without it,
naming what the loop did report. Raised in the controller, the error is not retried as a worker
crash would be (Ray Train's failure policy retries worker errors, not controller ones).
"""

from __future__ import annotations

from typing import Any

import ray.train

from raylight.errors import RunError


class MetricReported(ray.train.UserCallback):
    """Refuses a checkpointed report whose rank-0 metrics (what Ray ranks) lack `metric`."""

    def __init__(self, metric: str) -> None:
        self.metric = metric

    def after_report(
        self,
        run_context: Any,
        metrics: list[dict[str, Any]],
        checkpoint: ray.train.Checkpoint | None,
    ) -> None:
        if checkpoint is not None and metrics and self.metric not in metrics[0]:
            raise RunError(missing_metric(self.metric, metrics[0]))


def missing_metric(metric: str, metrics: dict[str, Any]) -> str:
    names = ", ".join(sorted(metrics)) or "nothing"
    return (
        f"train.metric {metric!r} is not among the metrics the loop reported with its "
        f"checkpoint ({names}); set train.metric (or tune.metric) to one of those, with "
        f"train.mode: min or max for a name Raylight does not know, or report {metric!r}."
    )
