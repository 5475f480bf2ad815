"""`raylight train`'s start: an unfinished run of the same spec is named, and resumed only
with --resume (the training itself is integration's business: here it is replaced)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from raylight.cli.common import Invocation
from raylight.cli.main import _run
from raylight.spec import load_spec
from raylight.training import TrainingResult
from tests.conftest import DIGITS_SPEC


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """What `train` asked of run_training; a finished result comes back at once."""
    made: list[dict[str, Any]] = []

    def run_training(loaded: Any, **options: Any) -> TrainingResult:
        made.append(options)
        return TrainingResult(tmp_path / "run", tmp_path / "ckpt", "val_accuracy", 0.9, {})

    monkeypatch.setattr("raylight.training.trainer.run_training", run_training)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return made


def test_an_unfinished_run_is_named_and_only_resumed_when_asked(
    calls: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    overrides = [f"run.storage_path={tmp_path}"]
    spec_hash = load_spec(DIGITS_SPEC, overrides).spec_hash
    unfinished = tmp_path / "digits" / f"train-{spec_hash}-20261207-101010-abcd"
    unfinished.mkdir(parents=True)  # a run directory without a record: its driver died

    assert _run(["train", str(DIGITS_SPEC), *overrides], Invocation()) == 0
    out = capsys.readouterr().out.replace("\n", "")
    assert f"{unfinished} never finished; --resume continues it" in out
    assert calls[-1]["resume_run"] is None  # a new run, as asked

    assert _run(["train", str(DIGITS_SPEC), *overrides, "--resume"], Invocation()) == 0
    out = capsys.readouterr().out.replace("\n", "")
    assert f"resuming {unfinished}" in out
    assert calls[-1]["resume_run"] == unfinished


def test_resume_without_an_unfinished_run_starts_a_new_one(
    calls: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = _run(
        ["train", str(DIGITS_SPEC), f"run.storage_path={tmp_path}", "--resume"], Invocation()
    )
    assert code == 0
    assert "nothing to resume for this spec: starting a new run" in capsys.readouterr().out
    assert calls[-1]["resume_run"] is None
