"""The root Spec: every field described, and the checks that span sections."""

from __future__ import annotations

import pytest

from raylight.errors import SpecError
from raylight.spec import load_spec
from tests.conftest import DIGITS_SPEC
from tests.unit.spec.conftest import problems


def test_every_schema_field_is_described() -> None:
    from raylight.spec import Spec

    schema = Spec.model_json_schema()
    models = {"Spec": schema, **schema["$defs"]}
    undocumented = [
        f"{name}.{field}"
        for name, model in models.items()
        for field, details in model.get("properties", {}).items()
        if not details.get("description")
    ]
    assert undocumented == []


def test_precision_32_may_be_written_as_a_number_and_fp16_needs_gpus() -> None:
    assert load_spec(DIGITS_SPEC, ["train.precision=32"]).spec.train.precision == "32"
    with pytest.raises(SpecError) as raised:
        load_spec(DIGITS_SPEC, ["train.precision=fp16"])
    assert "needs GPUs (resources.gpus_per_worker > 0)" in raised.value.problems[0].message
    gpu = load_spec(DIGITS_SPEC, ["train.precision=fp16", "resources.gpus_per_worker=1"])
    assert gpu.spec.train.precision == "fp16"


def test_user_loop_spec_is_checked_against_tuning() -> None:
    from tests.conftest import USER_LOOP_SPEC

    loop = load_spec(USER_LOOP_SPEC).spec.train.loop
    assert loop.kind == "ray_train" and loop.weights_file == "model.pt"
    assert load_spec(DIGITS_SPEC).spec.train.loop.kind == "managed"  # the default
    with pytest.raises(SpecError, match=r"set resources\.num_workers >= 1"):
        load_spec(USER_LOOP_SPEC, ["resources.num_workers=0"])
    with pytest.raises(SpecError, match="only the managed loop knows how to load"):
        load_spec(USER_LOOP_SPEC, ["tune.scheduler={kind: pbt}"])
    with pytest.raises(SpecError, match="weights_file"):
        load_spec(USER_LOOP_SPEC, ["train.loop.weights_file=model.pkl"])


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["train.strategy=fsdp", "resources.num_workers=0"], "set resources.num_workers >= 1"),
        (["train.strategy=fsdp", "train.loop={kind: lightning}"], "Lightning's FSDPStrategy"),
        (["train.strategy=zero3"], "train.strategy"),
    ],
)
def test_fsdp_is_the_managed_loops_and_needs_workers(overrides: list[str], expected: str) -> None:
    assert any(expected in message for message in problems(DIGITS_SPEC, overrides))
    assert load_spec(DIGITS_SPEC, ["train.strategy=fsdp"]).spec.train.strategy == "fsdp"
