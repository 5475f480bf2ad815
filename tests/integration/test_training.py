"""A real 2-worker Ray Train run of the digits pipeline, checked from its files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from raylight.preprocessing.datasets import prepare_datasets
from raylight.spec import LoadedSpec
from raylight.training import TrainingResult
from raylight.training.checkpoints import load_model
from raylight.training.progress import METRICS_FILE
from raylight.training.records import read_record
from raylight.training.trainer import task_for

pytestmark = pytest.mark.ray


def test_two_worker_run_reaches_the_accuracy_bar(trained_digits: TrainingResult) -> None:
    assert trained_digits.metric == "val_accuracy"
    assert trained_digits.metric_value >= 0.95


def test_metrics_are_reported_every_epoch_over_all_ranks(
    digits: LoadedSpec, trained_digits: TrainingResult
) -> None:
    lines = (trained_digits.run_path / METRICS_FILE).read_text().splitlines()
    history = [json.loads(line) for line in lines]
    assert [m["epoch"] for m in history] == list(range(1, digits.spec.train.epochs + 1))
    # 1,797 rows, 20 % held out: rank 0 alone sees half of them; the report covers all.
    assert {m["val_rows"] for m in history} == {360}


def test_best_checkpoint_reloads_and_reproduces_its_metric(
    digits: LoadedSpec, trained_digits: TrainingResult
) -> None:
    model, meta = load_model(trained_digits.checkpoint_path)
    assert meta.spec_hash == digits.spec_hash
    prepared = prepare_datasets(digits.spec.data, task_for(digits.spec.train), digits.base_dir)
    batch = prepared.val.take_batch(batch_size=10_000)
    with torch.inference_mode():
        predicted = model(torch.from_numpy(batch["features"])).argmax(dim=1).numpy()
    accuracy = float(np.mean(predicted == batch["label"]))
    assert accuracy == pytest.approx(trained_digits.metric_value, abs=1e-9)


def test_run_record_points_at_the_best_checkpoint(
    digits: LoadedSpec, trained_digits: TrainingResult
) -> None:
    record = read_record(digits.storage_path / digits.spec.name)
    assert record.kind == "train"
    assert record.checkpoint_path == str(trained_digits.checkpoint_path)
    assert record.metric_value == trained_digits.metric_value
