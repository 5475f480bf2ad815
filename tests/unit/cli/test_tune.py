"""`raylight tune --dry-run`: the plan without starting Ray, and a refusal with exit code 2."""

from __future__ import annotations

from pathlib import Path

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


def test_the_summary_names_each_failed_trial_with_its_error_and_logs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from raylight.cli.output import print_tuning
    from raylight.tuning.live import TrialSummary
    from raylight.tuning.tuner import TuningResult

    trials = [
        TrialSummary("good_1", "TERMINATED", {"model.kwargs.hidden": 32}, 0.95, 2),
        TrialSummary(
            "bad_2",
            "ERROR",
            {"model.kwargs.hidden": -1},
            None,
            0,
            error="RuntimeError: Trying to create tensor with negative dimension -1",
            log_path=str(tmp_path / "bad_2"),
        ),
    ]
    print_tuning(
        TuningResult(
            sweep_path=tmp_path,
            metric="val_accuracy",
            mode="max",
            best_trial_id="good_1",
            best_config={"model.kwargs.hidden": 32},
            metric_value=0.95,
            checkpoint_path=tmp_path / "ckpt",
            trials=trials,
            trials_csv=tmp_path / "trials.csv",
            history_csv=tmp_path / "history.csv",
            report_html=tmp_path / "report.html",
        )
    )
    out = capsys.readouterr().out
    assert "bad_2 failed: RuntimeError: Trying to create tensor with negative dimension" in out
    assert f"logs: {tmp_path / 'bad_2'}" in out.replace("\n    ", "")
    assert "good_1 failed" not in out and "best trial good_1" in out
