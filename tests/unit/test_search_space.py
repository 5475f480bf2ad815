from __future__ import annotations

import pytest
from ray import tune
from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandScheduler,
    MedianStoppingRule,
    PopulationBasedTraining,
)
from ray.tune.search import ConcurrencyLimiter

from raylight.errors import ComponentError, SpecError
from raylight.spec import load_spec
from raylight.spec.schema import TuneSpec
from raylight.tuning.search_space import (
    build_param_space,
    build_scheduler,
    build_search_algorithm,
    check_search_available,
)
from tests.conftest import DIGITS_SPEC

LR = {"type": "loguniform", "low": 1e-4, "high": 1e-1}


def sweep(search: str, space: dict[str, object], scheduler: dict | None = None) -> TuneSpec:
    extra = {"scheduler": scheduler} if scheduler else {}
    return TuneSpec.model_validate({"search": search, "search_space": space, **extra})


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
    scheduler = build_scheduler(
        sweep("random", {"train.optimizer.lr": LR}, {"kind": "asha", "grace_period": 5}), epochs=3
    )
    assert isinstance(scheduler, ASHAScheduler)
    assert scheduler._max_t == 3
    fifo = sweep("random", {"train.optimizer.lr": LR}, {"kind": "fifo"})
    assert isinstance(build_scheduler(fifo, epochs=3), FIFOScheduler)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("hyperband", HyperBandScheduler), ("median", MedianStoppingRule)],
)
def test_every_scheduler_counts_epochs(kind: str, expected: type) -> None:
    scheduler = build_scheduler(sweep("random", {"train.optimizer.lr": LR}, {"kind": kind}), 6)
    assert isinstance(scheduler, expected)
    assert scheduler._time_attr == "epoch"


def test_pbt_mutates_training_values_and_keeps_the_architecture() -> None:
    space = {
        "train.optimizer.lr": LR,
        "train.optimizer.name": {"type": "choice", "values": ["adam", "adamw"]},
        "model.kwargs.hidden": {"type": "choice", "values": [64, 128]},
    }
    scheduler = build_scheduler(sweep("random", space, {"kind": "pbt"}), epochs=6)
    assert isinstance(scheduler, PopulationBasedTraining)
    mutations = scheduler._hyperparam_mutations
    assert set(mutations) == {"train.optimizer.lr", "train.optimizer.name"}
    assert mutations["train.optimizer.name"] == ["adam", "adamw"]  # shifted, never multiplied
    explore = scheduler._custom_explore_fn
    assert explore({"train.optimizer.lr": 0.12})["train.optimizer.lr"] == 1e-1
    assert explore({"train.optimizer.lr": 1e-5})["train.optimizer.lr"] == 1e-4


def test_pbt_needs_random_search_and_in_process_trials() -> None:
    with pytest.raises(ValueError, match=r"needs tune\.search: random"):
        sweep("optuna", {"train.optimizer.lr": LR}, {"kind": "pbt"})
    with pytest.raises(SpecError) as raised:
        load_spec(DIGITS_SPEC, overrides=["tune.scheduler={kind: pbt}"])
    (problem,) = raised.value.problems
    assert "resources.num_workers: 0" in problem.message


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
