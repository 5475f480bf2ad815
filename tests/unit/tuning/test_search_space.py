"""The spec's search space in Tune's terms: domains, schedulers and searchers (no trials run)."""

from __future__ import annotations

import types

import numpy as np
import pytest
from ray import tune
from ray.tune.schedulers import (
    ASHAScheduler,
    AsyncHyperBandScheduler,
    FIFOScheduler,
    MedianStoppingRule,
    PopulationBasedTraining,
)
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

from raylight.errors import ComponentError
from raylight.tuning.search_space import (
    applied_values,
    build_param_space,
    build_scheduler,
    build_search_algorithm,
    check_search_available,
)
from tests.unit.conftest import CONDITIONAL_SPACE, LR, sweep


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
    [("hyperband", AsyncHyperBandScheduler), ("median", MedianStoppingRule)],
)
def test_every_scheduler_counts_epochs(kind: str, expected: type) -> None:
    scheduler = build_scheduler(sweep("random", {"train.optimizer.lr": LR}, {"kind": kind}), 6)
    assert isinstance(scheduler, expected)
    assert scheduler._time_attr == "epoch"


@pytest.mark.parametrize(
    ("max_t", "reduction_factor", "first_rungs"),
    [(4, 2, [1, 2, 4]), (27, 3, [1, 3, 9, 27]), (8, 3, [1, 3]), (1, 3, [1])],
)
def test_hyperband_has_every_bracket_from_one_epoch_to_max_t(
    max_t: int, reduction_factor: int, first_rungs: list[int]
) -> None:
    spec = sweep(
        "random",
        {"train.optimizer.lr": LR},
        {"kind": "hyperband", "reduction_factor": reduction_factor, "max_t": max_t},
    )
    scheduler = build_scheduler(spec, epochs=max_t)
    assert isinstance(scheduler, AsyncHyperBandScheduler)
    lowest_rungs = [min(m for m, _ in bracket._rungs) for bracket in scheduler._brackets]
    assert lowest_rungs == first_rungs


def test_hyperband_brackets_are_drawn_the_same_for_the_same_seed() -> None:
    spec = sweep("random", {"train.optimizer.lr": LR}, {"kind": "hyperband", "max_t": 9})

    def brackets(seed: int) -> list[int]:
        scheduler = build_scheduler(spec, epochs=9, seed=seed)
        scheduler.set_search_properties("val_accuracy", "max")
        drawn = []
        for i in range(30):
            trial = types.SimpleNamespace(trial_id=f"t{i}")
            scheduler.on_trial_add(None, trial)  # type: ignore[arg-type]
            drawn.append(scheduler._brackets.index(scheduler._trial_info[trial.trial_id]))
        return drawn

    np.random.seed(1)  # the global generator, which Ray's own scheduler would draw from
    first = brackets(seed=0)
    np.random.seed(2)
    assert brackets(seed=0) == first
    assert brackets(seed=5) != first
    assert len(set(first)) > 1  # it does spread trials over brackets


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


@pytest.mark.parametrize(
    ("search", "searcher"), [("optuna", "OptunaSearch"), ("hyperopt", "HyperOptSearch")]
)
def test_model_based_searchers_are_limited_to_the_planned_concurrency(
    search: str, searcher: str
) -> None:
    # Tune's max_concurrent_trials is left unset, so the searcher itself must hold the limit.
    limiter = build_search_algorithm(sweep(search, {"train.optimizer.lr": LR}), 3, seed=0)
    assert isinstance(limiter, ConcurrencyLimiter) and limiter.max_concurrent == 3
    assert type(limiter.searcher).__name__ == searcher


@pytest.mark.parametrize("search", ["random", "grid"])
def test_basic_search_is_limited_to_the_planned_concurrency(search: str) -> None:
    space = {"model.kwargs.hidden": {"type": "choice", "values": [8, 16]}}
    basic = build_search_algorithm(sweep(search, space), 2, seed=0)
    assert isinstance(basic, BasicVariantGenerator) and basic.max_concurrent == 2


def test_random_search_samples_the_same_configurations_for_the_same_seed() -> None:
    spec = sweep("random", {"train.optimizer.lr": LR})

    def first_configs(seed: int) -> list[float]:
        searcher = build_search_algorithm(spec, 4, seed=seed)
        searcher.add_configurations(
            [
                tune.Experiment(
                    "x", lambda config: None, config=build_param_space(spec), num_samples=3
                )
            ]
        )
        return [searcher.next_trial().config["train.optimizer.lr"] for _ in range(3)]

    assert first_configs(7) == first_configs(7) != first_configs(8)


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


def test_a_conditional_value_is_sampled_only_when_its_condition_holds() -> None:
    spec = sweep("random", CONDITIONAL_SPACE)
    searcher = build_search_algorithm(spec, 20, seed=3)
    space = build_param_space(spec)
    searcher.add_configurations(
        [tune.Experiment("x", lambda config: None, config=space, num_samples=20)]
    )
    configs = [searcher.next_trial().config for _ in range(20)]
    assert {c["train.optimizer.name"] for c in configs} == {"adamw", "sgd"}
    for config in configs:
        momentum = config["train.optimizer.momentum"]
        if config["train.optimizer.name"] == "sgd":
            assert 0.5 <= momentum < 0.9
        else:
            assert momentum is None
            # The trial applies the other values and leaves momentum at its spec value.
            assert applied_values(spec, config) == {"train.optimizer.name": "adamw"}
