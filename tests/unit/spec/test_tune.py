"""The tune section's validation: search-space entries, conditionals, what each search refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylight.errors import SpecError
from raylight.spec import load_spec
from tests.conftest import DIGITS_SPEC
from tests.unit.conftest import CONDITIONAL_SPACE, LR, sweep
from tests.unit.spec.conftest import VALID, problems, write


def test_pbt_needs_random_search_without_grids() -> None:
    with pytest.raises(ValueError, match=r"needs tune\.search: random"):
        sweep("optuna", {"train.optimizer.lr": LR}, {"kind": "pbt"})
    with pytest.raises(ValueError, match=r"found train\.seed"):
        sweep("random", {"train.seed": {"type": "grid", "values": [0, 1]}}, {"kind": "pbt"})
    # Distributed trials hand their checkpoints to Tune too, so PBT takes the shipped spec.
    assert load_spec(DIGITS_SPEC, overrides=["tune.scheduler={kind: pbt}"]).spec.tune


def test_model_based_search_refuses_grid_entries() -> None:
    with pytest.raises(ValueError, match="samples values itself"):
        sweep("optuna", {"train.seed": {"type": "grid", "values": [0, 1]}})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"depends_on": "train.seed"}, r"must name another search_space key of type choice"),
        ({"cases": {"adam": {"type": "uniform", "low": 0.1, "high": 0.2}}}, r"cases adam are not"),
    ],
)
def test_a_conditional_must_name_a_discrete_key_and_its_values(
    change: dict[str, object], message: str
) -> None:
    space = {**CONDITIONAL_SPACE}
    space["train.optimizer.momentum"] = {**CONDITIONAL_SPACE["train.optimizer.momentum"], **change}
    with pytest.raises(ValueError, match=message):
        sweep("random", space)


def test_model_based_search_refuses_conditional_values() -> None:
    with pytest.raises(ValueError, match=r"cannot sample conditional values"):
        sweep("optuna", CONDITIONAL_SPACE)


def test_conditional_values_are_validated_together_with_their_condition() -> None:
    # momentum is refused for adamw (the spec's optimizer), so it is checked with name=sgd.
    space = (
        'tune.search_space={"train.optimizer.name": {type: choice, values: [adamw, sgd]}, '
        '"train.optimizer.momentum": {type: conditional, depends_on: train.optimizer.name, '
        "cases: {sgd: {type: uniform, low: 0.5, high: HIGH}}}}"
    )
    assert load_spec(DIGITS_SPEC, [space.replace("HIGH", "0.99")]).spec.tune
    with pytest.raises(SpecError) as raised:
        load_spec(DIGITS_SPEC, [space.replace("HIGH", "1.5")])
    (problem,) = raised.value.problems
    assert problem.path == "tune.search_space.train.optimizer.momentum"
    assert "a sampled value 1.5 is invalid" in problem.message


SWEEP = (
    VALID
    + """\
tune:
  search_space:
{entries}
"""
)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "    train.optimizer.lrr: {type: loguniform, low: 0.001, high: 0.1}",
            "Did you mean 'lr'?",
        ),
        ("    train.epochs: {type: choice, values: [2, 0]}", "a sampled value 0 is invalid"),
        ("    resources.num_workers: {type: choice, values: [1, 2]}", "only train.* or model.*"),
        ("    train.optimizer.lr: {type: uniform, low: 0.5, high: 0.1}", "low must be < high"),
        ("    train.optimizer.lr: {type: normal, mean: 0}", "unknown type 'normal'"),
    ],
)
def test_invalid_search_space_is_a_spec_error(tmp_path: Path, entry: str, expected: str) -> None:
    found = problems(write(tmp_path, SWEEP.replace("{entries}", entry)))
    assert any(expected in m and m.startswith("tune.search_space") for m in found), found


def test_grid_search_needs_discrete_values(tmp_path: Path) -> None:
    text = SWEEP.replace(
        "{entries}", "    train.optimizer.lr: {type: uniform, low: 0.1, high: 0.5}"
    )
    found = problems(write(tmp_path, text.replace("tune:\n", "tune:\n  search: grid\n")))
    assert any("needs discrete values" in m for m in found)
