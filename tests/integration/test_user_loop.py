"""Users' own loop functions (ray_train_loop.py, accelerate_loop.py) run, recorded and served."""

from __future__ import annotations

import json

import pytest

from raylight.runs.checkpoints import load_model, read_meta
from raylight.runs.history import METRICS_FILE
from raylight.spec import LoadedSpec
from raylight.training import TrainingResult
from tests.integration.conftest import offline_val_accuracy, serve_spec_and_predict_example


def test_user_loop_reaches_the_accuracy_bar_with_its_own_reports(
    user_loop_digits: LoadedSpec, trained_user_loop: TrainingResult
) -> None:
    assert trained_user_loop.metric_value >= 0.95
    history = [
        json.loads(line)
        for line in (trained_user_loop.run_path / METRICS_FILE).read_text().splitlines()
    ]
    epochs = user_loop_digits.spec.train.epochs
    assert [m["epoch"] for m in history] == list(range(1, epochs + 1))
    assert set(history[0]) >= {"val_loss", "val_accuracy"}  # what the loop itself reported


def test_user_checkpoint_gets_raylight_metadata_and_reproduces_its_metric(
    user_loop_digits: LoadedSpec, trained_user_loop: TrainingResult
) -> None:
    directory = trained_user_loop.checkpoint_path
    assert {"model.pt", "state.pt"} <= {p.name for p in directory.iterdir()}  # the loop's own
    meta = read_meta(directory)
    assert meta.spec_hash == user_loop_digits.spec_hash
    assert meta.metrics["val_accuracy"] == trained_user_loop.metric_value
    model, _ = load_model(directory)  # from the converted model.safetensors
    assert offline_val_accuracy(user_loop_digits, model) == pytest.approx(
        trained_user_loop.metric_value, abs=1e-6
    )


def test_user_loop_checkpoint_is_served_by_the_serve_command_path(
    user_loop_digits: LoadedSpec, trained_user_loop: TrainingResult
) -> None:
    serve_spec_and_predict_example(user_loop_digits, trained_user_loop.checkpoint_path)


def test_accelerate_loop_gets_the_specs_precision_and_accumulation(
    accelerate_digits: LoadedSpec, trained_accelerate: TrainingResult
) -> None:
    result = trained_accelerate
    assert result.metric_value >= 0.93
    last = json.loads((result.run_path / METRICS_FILE).read_text().splitlines()[-1])
    # What Accelerator() itself said it used, from the environment Raylight set.
    train = accelerate_digits.spec.train
    assert last["accumulation_steps"] == train.accumulate_grad_batches == 2
    assert last["bf16"] == 1.0 and train.precision == "bf16"
    _, meta = load_model(result.checkpoint_path)  # servable like any ray_train checkpoint
    assert meta.metrics["val_accuracy"] == result.metric_value
    serve_spec_and_predict_example(accelerate_digits, result.checkpoint_path)
