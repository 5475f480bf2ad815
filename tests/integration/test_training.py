"""A real 2-worker Ray Train run of the digits pipeline, checked from its files."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from raylight.cluster import ClusterInfo
from raylight.errors import ClusterError
from raylight.preprocessing.datasets import prepare_datasets
from raylight.runs.checkpoints import load_model, load_training_state
from raylight.runs.history import METRICS_FILE
from raylight.runs.records import read_record
from raylight.spec import LoadedSpec, load_spec
from raylight.training import TrainingResult, run_training
from raylight.training.trainer import task_for
from tests.conftest import DIGITS_SPEC
from tests.integration.conftest import offline_val_accuracy, serve_spec_and_predict_example


def test_two_worker_run_reaches_the_accuracy_bar(trained_digits: TrainingResult) -> None:
    assert trained_digits.metric == "val_accuracy"
    assert trained_digits.metric_value >= 0.95


def test_metrics_are_reported_every_epoch_over_all_ranks(
    digits: LoadedSpec, trained_digits: TrainingResult
) -> None:
    lines = (trained_digits.run_path / METRICS_FILE).read_text().splitlines()
    history = [json.loads(line) for line in lines]
    assert [m["epoch"] for m in history] == list(range(1, digits.spec.train.epochs + 1))
    # Rank 0 alone sees half of the validation split; the report covers all of it.
    prepared = prepare_datasets(digits.spec.data, task_for(digits.spec.train), digits.base_dir)
    assert {m["val_rows"] for m in history} == {prepared.num_val_rows}


def test_best_checkpoint_reloads_and_reproduces_its_metric(
    digits: LoadedSpec, trained_digits: TrainingResult
) -> None:
    model, meta = load_model(trained_digits.checkpoint_path)
    assert meta.spec_hash == digits.spec_hash
    accuracy = offline_val_accuracy(digits, model)
    assert accuracy == pytest.approx(trained_digits.metric_value, abs=1e-9)


def test_run_record_points_at_the_best_checkpoint(
    digits: LoadedSpec, trained_digits: TrainingResult
) -> None:
    record = read_record(digits.storage_path / digits.spec.name)
    assert record.kind == "train"
    assert record.checkpoint_path == str(trained_digits.checkpoint_path)
    assert record.metric_value == trained_digits.metric_value


def test_two_workers_follow_schedule_accumulation_bf16_and_early_stopping(
    ray_cluster: ClusterInfo, tmp_path: Path
) -> None:
    loaded = load_spec(
        DIGITS_SPEC,
        [
            f"run.storage_path={tmp_path}",
            "train.epochs=8",
            "train.precision=bf16",
            "train.accumulate_grad_batches=2",
            "train.gradient_clip_norm=1.0",
            "train.lr_schedule={name: cosine, warmup_epochs: 1}",
            "train.early_stopping={patience: 2, min_delta: 0.002}",
        ],
    )
    result = run_training(loaded)
    history = [
        json.loads(line) for line in (result.run_path / METRICS_FILE).read_text().splitlines()
    ]
    lrs = [m["lr"] for m in history]
    assert lrs[0] == pytest.approx(loaded.spec.train.optimizer.lr, rel=0.05)  # warmed up by epoch 1
    assert all(a > b for a, b in itertools.pairwise(lrs))  # cosine decay after warm-up
    assert result.metric_value >= 0.9
    stopped = history[-1].get("stopped_early") == 1.0
    assert stopped or len(history) == 8  # either it ran out of patience or of epochs
    state = load_training_state(result.checkpoint_path)
    assert state["lr_scheduler"]["last_epoch"] > 0 and "grad_scaler" in state


def test_storage_preflight_refuses_an_unwritable_path_before_training(
    ray_cluster: ClusterInfo,
) -> None:
    loaded = load_spec(DIGITS_SPEC, ["run.storage_path=/proc/raylight-runs"])
    with pytest.raises(
        ClusterError, match=r"run\.storage_path /proc/raylight-runs is not writable"
    ):
        run_training(loaded)


def test_fsdp_shards_the_parameters_and_checkpoints_the_whole_model(
    fsdp_digits: LoadedSpec, trained_fsdp: TrainingResult
) -> None:
    history = [
        json.loads(line) for line in (trained_fsdp.run_path / METRICS_FILE).read_text().splitlines()
    ]
    # fully_shard on CPU workers over gloo: rank 0 held half of the MLP's parameters.
    assert {m["param_shard_fraction"] for m in history} == {0.5}
    assert trained_fsdp.metric_value >= 0.95
    directory = trained_fsdp.checkpoint_path
    state = load_training_state(directory)
    assert state["optimizer_format"] == "fsdp_full"  # by parameter name: resumable anywhere
    assert set(state["optimizer"]["state"]) == {
        "0.weight",
        "0.bias",
        "3.weight",
        "3.bias",
        "6.weight",
        "6.bias",
    }
    model, _ = load_model(directory)  # the gathered, unsharded weights: a plain module
    assert offline_val_accuracy(fsdp_digits, model) == pytest.approx(
        trained_fsdp.metric_value, abs=1e-6
    )
    serve_spec_and_predict_example(fsdp_digits, directory)
