"""The spec's metric, checked on the worker when a loop reports a checkpoint without it.

Checkpoints are ranked, runs early-stopped and trials scheduled by `train.metric`; a loop that
never reports it would train to the end and then fail. Wrapping `ray.train.report` (as every
loop kind reports through it) fails the run at its first checkpointed report instead, naming
what the loop did report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raylight.errors import RunError


def install_metric_check(metric: str) -> None:
    """On a Train worker: wrap `ray.train.report` to check for `metric` (once per process)."""
    import ray.train

    if not getattr(ray.train.report, "checks_metric", False):
        ray.train.report = checking_metric(ray.train.report, metric)


def checking_metric(report: Callable[..., Any], metric: str) -> Callable[..., Any]:
    """`report`, refusing a checkpoint whose metrics lack `metric`."""

    def report_with_metric(metrics: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        checkpoint = kwargs.get("checkpoint", args[0] if args else None)
        if checkpoint is not None and metric not in metrics:
            raise RunError(missing_metric(metric, metrics))
        return report(metrics, *args, **kwargs)

    report_with_metric.checks_metric = True  # type: ignore[attr-defined]
    return report_with_metric


def missing_metric(metric: str, metrics: dict[str, Any]) -> str:
    names = ", ".join(sorted(metrics)) or "nothing"
    return (
        f"train.metric {metric!r} is not among the metrics the loop reported with its "
        f"checkpoint ({names}); set train.metric to one of those (with train.mode: min or max "
        f"for a name Raylight does not know), or report {metric!r}."
    )
