"""tune.search_space, tune.search and tune.scheduler -> Ray Tune objects."""

from __future__ import annotations

import functools
import importlib.util
import math
from typing import Any

import numpy as np
from ray import tune
from ray.tune import schedulers as tune_schedulers
from ray.tune.schedulers import ASHAScheduler, TrialScheduler
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher

from raylight.errors import ComponentError
from raylight.spec.schema import (
    AshaScheduler,
    Choice,
    Conditional,
    Distribution,
    Grid,
    HyperBandScheduler,
    LogUniform,
    MedianStoppingScheduler,
    PbtScheduler,
    RandInt,
    TuneSpec,
    Uniform,
    case_text,
)


def build_param_space(spec: TuneSpec) -> dict[str, Any]:
    """Flat {dotted.path: Domain}; the trial applies them as overrides and re-validates."""
    return {path: _domain(d, spec.search) for path, d in spec.search_space.items()}


def _domain(distribution: Distribution, search: str) -> Any:
    if isinstance(distribution, Conditional):
        cases = {value: _domain(case, "random") for value, case in distribution.cases.items()}
        return tune.sample_from(
            functools.partial(sample_case, depends_on=distribution.depends_on, cases=cases)
        )
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


def sample_case(spec: Any, *, depends_on: str, cases: dict[str, Any]) -> Any:
    """Tune resolves `depends_on` first; None (no case for its value) keeps the spec value."""
    domain = cases.get(case_text(spec.config[depends_on]))
    return domain.sample() if domain is not None else None


def applied_values(spec: TuneSpec, config: dict[str, Any]) -> dict[str, Any]:
    """A trial's sampled values minus conditional ones whose condition did not hold."""
    return {
        key: value
        for key, value in config.items()
        if not (value is None and isinstance(spec.search_space.get(key), Conditional))
    }


TIME_ATTR = "epoch"
# Search-space paths a PBT exploit keeps from the donor instead of mutating: the donor's weights
# only fit the donor's architecture, and its data preparation made those weights.
PBT_FIXED_PREFIXES = ("model.", "data.")


def build_scheduler(spec: TuneSpec, epochs: int, seed: int = 0) -> TrialScheduler:
    """Schedulers count epochs (the `epoch` metric), not Tune iterations.

    A trial restarted after the sweep's driver died resumes its Train run mid-way, and Tune counts
    its iterations from 1 again; the epoch number in the metrics stays true. `seed` (the spec's
    train.seed) fixes what a scheduler draws at random: HyperBand's bracket for each trial.
    """
    scheduler = spec.scheduler
    if isinstance(scheduler, AshaScheduler):
        max_t = scheduler.max_t or epochs
        return ASHAScheduler(
            time_attr=TIME_ATTR,
            max_t=max_t,
            grace_period=min(scheduler.grace_period, max_t),
            reduction_factor=scheduler.reduction_factor,
        )
    if isinstance(scheduler, HyperBandScheduler):
        # Asynchronous HyperBand: every HyperBand bracket, each an ASHA with its own first rung.
        # Ray recommends it over its synchronous HyperBandScheduler, which pauses trials until
        # their bracket catches up and left a CI sweep here with every trial paused for good.
        max_t = min(scheduler.max_t or epochs, epochs)
        return SeededAsyncHyperBand(
            seed=seed,
            time_attr=TIME_ATTR,
            max_t=max_t,
            grace_period=1,
            reduction_factor=scheduler.reduction_factor,
            brackets=hyperband_brackets(max_t, scheduler.reduction_factor),
        )
    if isinstance(scheduler, MedianStoppingScheduler):
        return tune_schedulers.MedianStoppingRule(
            time_attr=TIME_ATTR,
            grace_period=scheduler.grace_period,
            min_samples_required=scheduler.min_samples_required,
        )
    if isinstance(scheduler, PbtScheduler):
        return _build_pbt(scheduler, spec)
    return tune_schedulers.FIFOScheduler()


class SeededAsyncHyperBand(tune_schedulers.AsyncHyperBandScheduler):
    """Ray's asynchronous HyperBand, drawing each trial's bracket from a generator of its own.

    Ray draws brackets from numpy's global generator, so which trials a sweep stops changed from
    run to run; here the same spec assigns the same brackets in the same order.
    """

    def __init__(self, *, seed: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bracket_state = np.random.RandomState(seed).get_state()

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        outside = np.random.get_state()
        np.random.set_state(self._bracket_state)
        try:
            super().on_trial_add(tune_controller, trial)
        finally:
            self._bracket_state = np.random.get_state()
            np.random.set_state(outside)


def hyperband_brackets(max_t: int, reduction_factor: float) -> int:
    """HyperBand's s_max + 1: brackets whose first rungs run max_t / eta**s epochs, s = 0, 1, ..."""
    return int(math.log(max_t) / math.log(reduction_factor) + 1e-9) + 1


def _build_pbt(scheduler: PbtScheduler, spec: TuneSpec) -> TrialScheduler:
    """PBT mutating the search space's training values, kept inside their declared ranges."""
    mutations: dict[str, Any] = {}
    bounds: dict[str, tuple[float, float]] = {}
    for path, distribution in spec.search_space.items():
        if path.startswith(PBT_FIXED_PREFIXES) or isinstance(distribution, Conditional):
            continue  # kept from the donor: its weights or its other values depend on them
        if isinstance(distribution, Choice):
            mutations[path] = list(distribution.values)  # a list: PBT shifts to a neighbour
        else:
            mutations[path] = _domain(distribution, spec.search)
            bounds[path] = _bounds(distribution)
    return tune_schedulers.PopulationBasedTraining(
        time_attr=TIME_ATTR,
        perturbation_interval=scheduler.perturbation_interval,
        quantile_fraction=scheduler.quantile_fraction,
        resample_probability=scheduler.resample_probability,
        synch=scheduler.synch,
        hyperparam_mutations=mutations,
        custom_explore_fn=functools.partial(clip_to_bounds, bounds=bounds),
    )


def _bounds(distribution: Distribution) -> tuple[float, float]:
    assert isinstance(distribution, Uniform | LogUniform | RandInt)
    if isinstance(distribution, RandInt):
        return distribution.low, distribution.high - 1  # randint's high is exclusive
    return distribution.low, distribution.high


def clip_to_bounds(config: dict[str, Any], *, bounds: dict[str, tuple[float, float]]) -> dict:
    """PBT scales values by 0.8 or 1.2, which can leave the range the user declared."""
    clipped = dict(config)
    for path, (low, high) in bounds.items():
        if path in clipped:
            value = min(max(clipped[path], low), high)
            clipped[path] = type(clipped[path])(value)
    return clipped


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


def build_search_algorithm(
    spec: TuneSpec, concurrency: int, seed: int
) -> Searcher | BasicVariantGenerator:
    """The searcher, limited to `concurrency` trials at once and seeded with train.seed.

    With the seed, the same spec samples the same configurations (random search included).
    """
    check_search_available(spec)
    if spec.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        # Without a limiter Tune would start every trial at once (0-CPU trial drivers).
        return ConcurrencyLimiter(OptunaSearch(seed=seed), max_concurrent=concurrency)
    if spec.search == "hyperopt":
        from ray.tune.search.hyperopt import HyperOptSearch

        # HyperOpt suggests sequentially; the limiter keeps it from running ahead of results.
        searcher = HyperOptSearch(random_state_seed=seed)
        return ConcurrencyLimiter(searcher, max_concurrent=concurrency)
    return BasicVariantGenerator(max_concurrent=concurrency, random_state=seed)
