"""tune.search_space (dotted spec paths -> distributions) and tune.scheduler -> Ray Tune objects."""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from raylight.spec.schema import (
    AshaScheduler,
    Choice,
    Distribution,
    Grid,
    LogUniform,
    RandInt,
    SchedulerSpec,
    TuneSpec,
    Uniform,
)


def build_param_space(spec: TuneSpec) -> dict[str, Any]:
    """Flat {dotted.path: Domain}; the trial applies them as overrides and re-validates."""
    return {path: _domain(d, spec.search) for path, d in spec.search_space.items()}


def _domain(distribution: Distribution, search: str) -> Any:
    if isinstance(distribution, Grid) or (isinstance(distribution, Choice) and search == "grid"):
        return tune.grid_search(list(distribution.values))
    if isinstance(distribution, Choice):
        return tune.choice(list(distribution.values))
    if isinstance(distribution, Uniform):
        return tune.uniform(distribution.low, distribution.high)
    if isinstance(distribution, LogUniform):
        return tune.loguniform(distribution.low, distribution.high)
    assert isinstance(distribution, RandInt)
    return tune.randint(distribution.low, distribution.high)


def build_scheduler(spec: SchedulerSpec, epochs: int) -> TrialScheduler:
    """ASHA counts Tune iterations; each trial reports once per epoch, so max_t is in epochs."""
    if isinstance(spec, AshaScheduler):
        max_t = spec.max_t or epochs
        return ASHAScheduler(
            time_attr="training_iteration",
            max_t=max_t,
            grace_period=min(spec.grace_period, max_t),
            reduction_factor=spec.reduction_factor,
        )
    return FIFOScheduler()
