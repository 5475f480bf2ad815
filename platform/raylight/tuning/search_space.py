"""tune.search_space, tune.search and tune.scheduler -> Ray Tune objects."""

from __future__ import annotations

import importlib.util
from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher

from raylight.errors import ComponentError
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


TIME_ATTR = "epoch"


def build_scheduler(spec: SchedulerSpec, epochs: int) -> TrialScheduler:
    """Schedulers count epochs (the `epoch` metric), not Tune iterations.

    A trial restarted after the sweep's driver died resumes its Train run mid-way, and Tune counts
    its iterations from 1 again; the epoch number in the metrics stays true.
    """
    if isinstance(spec, AshaScheduler):
        max_t = spec.max_t or epochs
        return ASHAScheduler(
            time_attr=TIME_ATTR,
            max_t=max_t,
            grace_period=min(spec.grace_period, max_t),
            reduction_factor=spec.reduction_factor,
        )
    return FIFOScheduler()


# tune.search -> the package it needs (installed by the `tune` extra).
SEARCH_PACKAGES = {"optuna": "optuna", "hyperopt": "hyperopt"}


def check_search_available(spec: TuneSpec) -> None:
    """Name the missing extra before anything starts, instead of failing inside Ray."""
    package = SEARCH_PACKAGES.get(spec.search)
    if package and importlib.util.find_spec(package) is None:
        raise ComponentError(
            f"tune.search: {spec.search!r} needs the {package} package, which is not installed. "
            "Install it with: pip install 'raylight[tune]'."
        )


def build_search_algorithm(spec: TuneSpec, concurrency: int, seed: int) -> Searcher | None:
    """None keeps Ray's BasicVariantGenerator (random and grid search)."""
    check_search_available(spec)
    if spec.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(seed=seed)
    if spec.search == "hyperopt":
        from ray.tune.search.hyperopt import HyperOptSearch

        # HyperOpt suggests sequentially; the limiter keeps it from running ahead of results.
        searcher = HyperOptSearch(random_state_seed=seed)
        return ConcurrencyLimiter(searcher, max_concurrent=concurrency)
    return None
