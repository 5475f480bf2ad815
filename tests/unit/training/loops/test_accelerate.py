"""The accelerate loop's environment: precision and gradient accumulation from the spec."""

from __future__ import annotations


def test_accelerate_gets_precision_and_accumulation_from_the_environment() -> None:
    from raylight.spec import load_spec
    from raylight.training.loops.accelerate import accelerate_environment
    from tests.conftest import ACCELERATE_SPEC

    spec = load_spec(ACCELERATE_SPEC, ["train.precision=32"]).spec
    assert accelerate_environment(spec.train) == {
        "ACCELERATE_MIXED_PRECISION": "no",
        "ACCELERATE_GRADIENT_ACCUMULATION_STEPS": "2",
    }
    bf16 = load_spec(ACCELERATE_SPEC, ["train.precision=bf16"]).spec
    assert accelerate_environment(bf16.train)["ACCELERATE_MIXED_PRECISION"] == "bf16"
