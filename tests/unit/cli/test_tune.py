"""`raylight tune --dry-run`: the plan without starting Ray, and a refusal with exit code 2."""

from __future__ import annotations

import pytest

from raylight.cli.common import Invocation
from raylight.cli.main import _run
from tests.conftest import DIGITS_SPEC


def test_dry_run_prints_the_plan_without_starting_ray(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    code = _run(["tune", str(DIGITS_SPEC), "--dry-run", "tune.num_samples=5"], Invocation())
    out = capsys.readouterr().out
    assert code == 0, out
    assert "plan for digits" in out and "5" in out  # the unit tier's guard refuses ray.init


def test_dry_run_refuses_a_sweep_that_cannot_run_with_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    overrides = ["resources.gpus_per_worker=1"]  # this machine has no GPU
    code = _run(["tune", str(DIGITS_SPEC), "--dry-run", *overrides], Invocation())
    err = capsys.readouterr().err
    assert code == 2, err
    assert "GPU" in err and "Traceback" not in err
