from __future__ import annotations

import pytest
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import ConcurrencyLimiter

from raylight.errors import ComponentError
from raylight.spec.schema import AshaScheduler, FifoScheduler, TuneSpec
from raylight.tuning.search_space import (
    build_param_space,
    build_scheduler,
    build_search_algorithm,
    check_search_available,
)


def sweep(search: str, space: dict[str, object]) -> TuneSpec:
    return TuneSpec.model_validate({"search": search, "search_space": space})


def test_each_distribution_maps_to_its_tune_domain() -> None:
    space = build_param_space(
        sweep(
            "random",
            {
                "train.optimizer.lr": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
                "model.kwargs.dropout": {"type": "uniform", "low": 0.0, "high": 0.5},
                "model.kwargs.layers": {"type": "randint", "low": 1, "high": 4},
                "model.kwargs.hidden": {"type": "choice", "values": [64, 128]},
                "train.seed": {"type": "grid", "values": [0, 1]},
            },
        )
    )
    assert isinstance(space["train.optimizer.lr"].get_sampler(), tune.search.sample.LogUniform)
    assert isinstance(space["model.kwargs.dropout"], tune.search.sample.Float)
    assert isinstance(space["model.kwargs.layers"], tune.search.sample.Integer)
    assert space["model.kwargs.hidden"].categories == [64, 128]
    assert space["train.seed"] == {"grid_search": [0, 1]}


def test_grid_search_expands_choices_exhaustively() -> None:
    space = build_param_space(
        sweep("grid", {"model.kwargs.hidden": {"type": "choice", "values": [64, 128]}})
    )
    assert space["model.kwargs.hidden"] == {"grid_search": [64, 128]}


def test_asha_caps_grace_period_at_the_epoch_count() -> None:
    # Ray asserts grace_period <= max_t; a 3-epoch override of a spec with grace 5 must still run.
    scheduler = build_scheduler(AshaScheduler(kind="asha", grace_period=5), epochs=3)
    assert isinstance(scheduler, ASHAScheduler)
    assert scheduler._max_t == 3
    assert isinstance(build_scheduler(FifoScheduler(kind="fifo"), epochs=3), FIFOScheduler)


def test_optuna_and_hyperopt_searchers_are_built() -> None:
    from ray.tune.search.optuna import OptunaSearch

    space = {"train.optimizer.lr": {"type": "loguniform", "low": 1e-4, "high": 1e-1}}
    assert isinstance(build_search_algorithm(sweep("optuna", space), 2, seed=0), OptunaSearch)
    limiter = build_search_algorithm(sweep("hyperopt", space), 3, seed=0)
    assert isinstance(limiter, ConcurrencyLimiter) and limiter.max_concurrent == 3
    assert build_search_algorithm(sweep("random", space), 2, seed=0) is None


def test_a_missing_search_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "optuna" else real_find_spec(name, *a),
    )
    space = {"train.optimizer.lr": {"type": "loguniform", "low": 1e-4, "high": 1e-1}}
    with pytest.raises(ComponentError, match=r"pip install 'raylight\[tune\]'"):
        check_search_available(sweep("optuna", space))


def test_model_based_search_refuses_grid_entries() -> None:
    with pytest.raises(ValueError, match="samples values itself"):
        sweep("optuna", {"train.seed": {"type": "grid", "values": [0, 1]}})
