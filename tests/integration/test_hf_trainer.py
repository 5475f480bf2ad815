"""A transformers.Trainer factory (pipelines/digits/hf_trainer.py) on 2 workers, and served."""

from __future__ import annotations

import json

import pytest

from raylight.runs.checkpoints import load_model
from raylight.runs.history import METRICS_FILE
from raylight.spec import LoadedSpec
from raylight.training import TrainingResult
from raylight.training.loops.hf_trainer import HF_CHECKPOINT
from tests.integration.conftest import offline_val_accuracy, serve_spec_and_predict_example


def test_hf_trainer_reaches_the_accuracy_bar_and_reports_every_epoch(
    trained_hf: TrainingResult,
) -> None:
    assert trained_hf.metric_value >= 0.95
    history = [
        json.loads(line) for line in (trained_hf.run_path / METRICS_FILE).read_text().splitlines()
    ]
    assert [int(m["epoch"]) for m in history] == list(range(1, 13))
    # The Trainer's eval_* (compute_metrics' accuracy and f1 too) as val_*, and its loss.
    assert {"train_loss", "val_loss", "val_accuracy", "val_f1", "lr"} <= set(history[-1])


def test_hf_checkpoint_resumes_reproduces_its_metric_and_is_served(
    hf_digits: LoadedSpec, trained_hf: TrainingResult
) -> None:
    directory = trained_hf.checkpoint_path
    trainer_state = json.loads((directory / HF_CHECKPOINT / "trainer_state.json").read_text())
    assert trainer_state["global_step"] > 0  # the Trainer's own checkpoint, for resume
    assert (directory / HF_CHECKPOINT / "optimizer.pt").is_file()
    model, meta = load_model(directory)
    assert meta.spec_hash == hf_digits.spec_hash
    # The Trainer gathered evaluation over both ranks: the whole split, offline, agrees.
    assert offline_val_accuracy(hf_digits, model) == pytest.approx(
        meta.metrics["val_accuracy"], abs=1e-6
    )
    assert trained_hf.metric == "val_f1" and meta.metrics["val_f1"] == trained_hf.metric_value

    prediction = serve_spec_and_predict_example(hf_digits, directory)
    assert 0 <= int(prediction["label"]) <= 9
