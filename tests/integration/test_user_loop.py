"""Users' own loop functions (ray_train_loop.py, accelerate_loop.py) run, recorded and served."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from raylight.cluster import ClusterInfo
from raylight.errors import RunError
from raylight.runs.checkpoints import load_model, read_meta
from raylight.runs.history import METRICS_FILE
from raylight.spec import LoadedSpec, load_spec
from raylight.training import TrainingResult, run_training
from tests.conftest import USER_LOOP_SPEC
from tests.integration.conftest import offline_val_accuracy, serve_spec_and_predict_example
from tests.integration.kills import all_train_workers


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
    assert set(history[0]) >= {"loss", "accuracy"}  # what the loop itself reported
    assert user_loop_digits.spec.train.metric == "accuracy"  # and ranks by


def test_user_checkpoint_gets_raylight_metadata_and_reproduces_its_metric(
    user_loop_digits: LoadedSpec, trained_user_loop: TrainingResult
) -> None:
    directory = trained_user_loop.checkpoint_path
    assert {"model.pt", "state.pt"} <= {p.name for p in directory.iterdir()}  # the loop's own
    # DistributedDataParallel's state_dict, as the loop saved it: served by the plain module.
    saved = torch.load(directory / "model.pt", weights_only=True)
    assert saved and all(key.startswith("module.") for key in saved)
    meta = read_meta(directory)
    assert meta.spec_hash == user_loop_digits.spec_hash
    assert meta.metrics["accuracy"] == trained_user_loop.metric_value
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


def test_a_metric_the_loop_never_reports_fails_the_run_at_its_first_report(
    ray_cluster: ClusterInfo, tmp_path: Path
) -> None:
    loaded = load_spec(
        USER_LOOP_SPEC,
        [
            f"run.storage_path={tmp_path}",
            "resources.num_workers=1",
            "run.max_failures=2",  # not spent on it: the refusal is not a worker crash
            "train.metric=val_accuracy",  # Raylight's name; the loop reports 'accuracy'
            "train.mode=null",
        ],
    )
    before = all_train_workers()
    with pytest.raises(RunError, match=r"not among .* \(accuracy, epoch, loss\)"):
        run_training(loaded)
    assert len(all_train_workers() - before) == 1  # one worker group, no retry
    # It stopped at the first report (once: a controller error is not retried like a crash),
    # before that report was recorded.
    assert len(list((tmp_path / loaded.spec.name).glob("train-*/checkpoint_*/"))) <= 1
    logs = (tmp_path / loaded.spec.name).glob(f"train-*/{METRICS_FILE}")
    assert all(not log.read_text().strip() for log in logs)
