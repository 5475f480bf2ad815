"""The managed loop's arithmetic: steps per epoch, the learning-rate schedule, early stopping."""

from __future__ import annotations

import itertools

import pytest

from raylight.spec.schema import EarlyStoppingSpec, LrScheduleSpec
from raylight.training.optimization import EarlyStopping, lr_factor, steps_per_epoch


def test_steps_per_epoch_counts_one_ranks_optimizer_steps() -> None:
    assert steps_per_epoch(1000, world_size=2, batch_size=64, accumulate=1) == 8  # 500 rows
    assert steps_per_epoch(1000, world_size=2, batch_size=64, accumulate=3) == 3
    assert steps_per_epoch(10, world_size=4, batch_size=64, accumulate=8) == 1
    # Ray gives each rank rows // world_size (equal shards): 1437 rows -> 718, 23 batches of 32.
    assert steps_per_epoch(1437, world_size=2, batch_size=32, accumulate=1) == 23
    assert steps_per_epoch(1437, world_size=2, batch_size=32, accumulate=2) == 12
    assert steps_per_epoch(1439, world_size=2, batch_size=719, accumulate=1) == 1


def test_warmup_then_cosine_reaches_the_floor() -> None:
    spec = LrScheduleSpec(name="cosine", warmup_epochs=1, min_lr_ratio=0.1)
    factors = [lr_factor(step, spec, steps_per_epoch=10, epochs=5) for step in range(50)]
    assert factors[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])  # linear warm-up
    assert factors[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))  # then only decays
    assert lr_factor(50, spec, 10, 5) == pytest.approx(0.1)


def test_step_and_linear_schedules() -> None:
    step = LrScheduleSpec(name="step", step_epochs=2, gamma=0.5)
    assert [lr_factor(s * 10, step, 10, 6) for s in range(6)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    linear = LrScheduleSpec(name="linear")
    assert lr_factor(25, linear, 10, 5) == pytest.approx(0.5)


def test_early_stopping_counts_epochs_without_enough_improvement() -> None:
    stopper = EarlyStopping.from_spec(EarlyStoppingSpec(patience=2, min_delta=0.01), "max")
    assert [stopper.update(v) for v in (0.5, 0.505, 0.6, 0.6, 0.605)] == [
        False,
        False,
        False,
        False,
        True,
    ]
    copy = EarlyStopping.from_spec(EarlyStoppingSpec(patience=2, min_delta=0.01), "max")
    copy.load_state_dict(stopper.state_dict())
    assert (copy.best, copy.bad_epochs) == (0.6, 2)
