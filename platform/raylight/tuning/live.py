"""What a running sweep tells the user: each trial as it ends, and a status line every few seconds.

SweepProgress is a Tune callback, so it runs in the sweep's driver and sees Tune's own trial
states; the CLI decides how to print what it emits.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray import tune

from raylight.tuning.search_space import TIME_ATTR

STATUS_EVERY_S = 10.0


@dataclass(frozen=True)
class TrialSummary:
    trial_id: str
    status: str
    config: dict[str, Any]
    metric_value: float | None
    epochs: int
    error: str | None = None
    log_path: str | None = None


@dataclass(frozen=True)
class SweepStatus:
    """Counts of trials by Tune state, and the best value of the metric reported so far."""

    elapsed_s: float
    total: int
    counts: dict[str, int]  # RUNNING, PENDING, PAUSED, TERMINATED, ERROR
    metric: str
    best_value: float | None
    best_trial: str | None


TrialCallback = Callable[[TrialSummary], None]
StatusCallback = Callable[[SweepStatus], None]


def trial_summary(
    trial_id: str,
    status: str,
    config: dict[str, Any],
    metrics: dict[str, Any],
    metric: str,
    error: str | None = None,
) -> TrialSummary:
    value = metrics.get(metric)
    return TrialSummary(
        trial_id=trial_id,
        status=status,
        config=dict(config),
        metric_value=float(value) if value is not None else None,
        epochs=int(metrics.get(TIME_ATTR, 0)),
        error=error,
    )


@dataclass
class Listeners:
    """Who hears about the running sweep in this process.

    Kept outside the callback because Tuner.restore unpickles the callback that the first,
    dead driver created: the resumed run's listeners and clock must come from this process.
    """

    on_trial: TrialCallback | None = None
    on_status: StatusCallback | None = None
    started: float = 0.0


LISTENERS = Listeners()


def listen(on_trial: TrialCallback | None, on_status: StatusCallback | None) -> None:
    """Route this process's sweep events to these callbacks, timing from now."""
    LISTENERS.on_trial, LISTENERS.on_status = on_trial, on_status
    LISTENERS.started = time.monotonic()


class SweepProgress(tune.Callback):
    """Emits a TrialSummary as each trial ends and a SweepStatus every STATUS_EVERY_S."""

    def __init__(self, metric: str, mode: str, total: int) -> None:
        self.metric, self.mode, self.total = metric, mode, total
        self.last_status = 0.0

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._emit_trial(trial, "TERMINATED")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._emit_trial(trial, "ERROR")

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        now = time.monotonic()
        if LISTENERS.on_status and now - max(self.last_status, LISTENERS.started) >= STATUS_EVERY_S:
            self.last_status = now
            LISTENERS.on_status(self.status(trials, now))

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        if LISTENERS.on_status:
            LISTENERS.on_status(self.status(trials, time.monotonic()))

    def status(self, trials: list[Any], now: float) -> SweepStatus:
        best_value, best_trial = None, None
        for trial in trials:
            value = _best_reported(trial, self.metric, self.mode)
            if value is not None and (best_value is None or _better(value, best_value, self.mode)):
                best_value, best_trial = value, trial.trial_id
        return SweepStatus(
            elapsed_s=now - LISTENERS.started,
            total=max(self.total, len(trials)),
            counts=dict(Counter(trial.status for trial in trials)),
            metric=self.metric,
            best_value=best_value,
            best_trial=best_trial,
        )

    def _emit_trial(self, trial: Any, status: str) -> None:
        if LISTENERS.on_trial:
            LISTENERS.on_trial(
                trial_summary(trial.trial_id, status, trial.config, trial.last_result, self.metric)
            )


def _best_reported(trial: Any, metric: str, mode: str) -> float | None:
    """The best value a trial reported so far (Tune keeps min/max of every metric per trial)."""
    analysis = getattr(trial, "metric_analysis", {}).get(metric)
    if not analysis:
        return None
    return float(analysis["max" if mode == "max" else "min"])


def _better(value: float, than: float, mode: str) -> bool:
    return value > than if mode == "max" else value < than
