"""A real 2-worker Ray Train run of the digits pipeline, checked from its files."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from raylight.cluster import ClusterInfo
from raylight.errors import ClusterError
from raylight.preprocessing.datasets import prepare_datasets
from raylight.preprocessing.transforms import ScalingStep
from raylight.runs.checkpoints import load_model, load_training_state, read_meta
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


def test_only_the_best_checkpoints_are_kept(
    digits: LoadedSpec, trained_digits: TrainingResult
) -> None:
    """run.num_checkpoints_to_keep: the k best by the metric stay, and the latest (Ray Train keeps
    it for a restart); every other one is deleted."""
    keep = digits.spec.run.num_checkpoints_to_keep
    assert keep is not None and keep < digits.spec.train.epochs
    checkpoints = [p for p in trained_digits.run_path.glob("checkpoint_*") if p.is_dir()]
    kept = {read_meta(p).epoch for p in checkpoints}
    lines = (trained_digits.run_path / METRICS_FILE).read_text().splitlines()
    accuracy = {int(m["epoch"]): m["val_accuracy"] for m in map(json.loads, lines)}
    last = max(accuracy)
    assert last in kept and keep <= len(kept) <= keep + 1, kept
    ranked = kept - {last} if len(kept) > keep else kept  # the k best
    deleted = set(accuracy) - kept
    assert deleted and all(accuracy[e] <= min(accuracy[k] for k in ranked) for e in deleted)
    best_epoch = read_meta(trained_digits.checkpoint_path).epoch
    assert best_epoch in kept and accuracy[best_epoch] == max(accuracy.values())


def test_a_failing_run_is_not_retried_when_max_failures_is_0(
    ray_cluster: ClusterInfo, tmp_path: Path
) -> None:
    """The default run.max_failures 0: a deterministic bug fails once, with no second group."""
    from tests.integration.kills import all_train_workers

    loaded = load_spec(
        DIGITS_SPEC,
        [
            f"run.storage_path={tmp_path}",
            "resources.num_workers=1",
            "model.kwargs.hidden=-1",  # passes the spec, fails in torch on the worker
        ],
    )
    assert loaded.spec.run.max_failures == 0
    before = all_train_workers()
    with pytest.raises(Exception, match="negative dimension"):
        run_training(loaded)
    assert len(all_train_workers() - before) == 1  # one worker started, never a replacement


def test_a_csv_source_with_min_max_scaling_is_fitted_on_the_training_split(
    ray_cluster: ClusterInfo, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(5, 3, 400), "z": rng.uniform(-2, 8, 400), "label": rng.integers(0, 2, 400)}
    )
    frame.to_csv(tmp_path / "table.csv", index=False)
    (tmp_path / "spec.yaml").write_text(
        "spec_version: 1\nname: table\n"
        "data:\n  source: {format: csv, path: table.csv}\n  label: label\n"
        "  validation: {fraction: 0.25, seed: 3}\n"
        "  preprocessing: [{kind: min_max}]\n"
        "model: {builder: 'pipelines.digits.model:build_mlp'}\n"
    )
    loaded = load_spec(tmp_path / "spec.yaml")
    prepared = prepare_datasets(loaded.spec.data, "classification", loaded.base_dir)
    (step,) = prepared.preprocessing.steps
    assert isinstance(step, ScalingStep) and step.kind == "min_max" and step.columns == ("x", "z")
    offset, scale = np.array(step.offset), np.array(step.scale)
    train = prepared.train.take_batch(1000)["features"]
    val = prepared.val.take_batch(1000)["features"]
    assert (len(train), len(val)) == (prepared.num_train_rows, prepared.num_val_rows) == (300, 100)
    # The training split spans exactly [0, 1]: the range was fitted on its rows alone.
    assert train.min(axis=0) == pytest.approx([0.0, 0.0], abs=1e-6)
    assert train.max(axis=0) == pytest.approx([1.0, 1.0], abs=1e-6)
    # Both splits scaled with those parameters give back the CSV's own values, every row once.
    recovered = np.concatenate([train, val]) * scale + offset
    for column, name in enumerate(("x", "z")):
        assert np.sort(recovered[:, column]) == pytest.approx(np.sort(frame[name]), abs=1e-4)


def test_auroc_and_f1_cover_the_whole_validation_split(
    digits: LoadedSpec, trained_digits: TrainingResult
) -> None:
    """The managed loop's torchmetrics values, gathered over both ranks, equal scikit-learn's on
    the best checkpoint's outputs for every validation row."""
    from sklearn.metrics import f1_score, roc_auc_score

    model, meta = load_model(trained_digits.checkpoint_path)
    prepared = prepare_datasets(digits.spec.data, task_for(digits.spec.train), digits.base_dir)
    batch = prepared.val.take_batch(batch_size=10_000)
    assert len(batch["label"]) == prepared.num_val_rows == meta.metrics["val_rows"]
    with torch.inference_mode():
        probabilities = model(torch.from_numpy(batch["features"])).softmax(dim=1).numpy()
    auroc = roc_auc_score(batch["label"], probabilities, multi_class="ovr", average="macro")
    assert meta.metrics["val_auroc"] == pytest.approx(auroc, abs=1e-4)
    f1 = f1_score(batch["label"], probabilities.argmax(axis=1), average="macro")
    assert meta.metrics["val_f1"] == pytest.approx(f1, abs=1e-4)
