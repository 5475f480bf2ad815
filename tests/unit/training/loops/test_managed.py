"""The managed loop run in-process on tensors (no Ray): its schedule, early stopping and resume."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray.train
import torch
from torch import nn

from raylight.preprocessing.transforms import FittedPreprocessing
from raylight.runs.checkpoints import load_training_state
from raylight.spec.schema import LrScheduleSpec, Spec
from raylight.training.loops.config import LoopConfig
from raylight.training.loops.managed import run_loop
from raylight.training.optimization import lr_factor


class Rows:
    """Enough of a Ray Data iterator for the loop: fixed tensors, in batches."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        self.features, self.labels = features, labels

    def iter_torch_batches(
        self, batch_size: int, device: Any = None, **_: Any
    ) -> Iterator[dict[str, torch.Tensor]]:
        for start in range(0, len(self.labels), batch_size):
            end = start + batch_size
            yield {"features": self.features[start:end], "label": self.labels[start:end]}


class InProcess:
    """A one-rank LoopSession keeping reports and checkpoints in memory and on disk."""

    rank, world_size, run_id = 0, 1, "unit"
    device = torch.device("cpu")

    def __init__(self, data: dict[str, Rows], directory: Path, start: Path | None = None) -> None:
        self.data, self.directory, self.start = data, directory, start
        self.reports: list[dict[str, float]] = []
        self.saved: list[Path] = []

    def prepare_model(self, model: nn.Module) -> nn.Module:
        return model

    def dataset(self, split: str) -> Rows:
        return self.data[split]

    def checkpoint(self) -> ray.train.Checkpoint | None:
        return ray.train.Checkpoint(str(self.start)) if self.start else None

    def report(self, metrics: dict[str, float], checkpoint: ray.train.Checkpoint | None) -> None:
        self.reports.append(metrics)
        if checkpoint is not None:
            kept = self.directory / f"epoch_{int(metrics['epoch'])}"
            checkpoint.to_directory(str(kept))
            self.saved.append(kept)


def loop_config(train: dict[str, Any]) -> LoopConfig:
    spec = Spec.model_validate(
        {
            "spec_version": 1,
            "name": "unit",
            "data": {"source": {"format": "parquet", "path": "x.parquet"}, "label": "y"},
            "model": {"builder": "pipelines.digits.model:build_mlp", "kwargs": {"hidden": 16}},
            "train": {"epochs": 6, "batch_size": 16, "metric": "val_accuracy", **train},
        }
    )
    preprocessing = FittedPreprocessing(
        feature_columns=("a", "b", "c", "d"),
        label_column="y",
        task="classification",
        label_classes=(0, 1),
    )
    return LoopConfig(spec=spec, spec_hash="unit", preprocessing=preprocessing, train_rows=128)


def data() -> dict[str, Rows]:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(160, 4, generator=generator)
    labels = (features[:, 0] + features[:, 1] > 0).long()
    return {"train": Rows(features[:128], labels[:128]), "val": Rows(features[128:], labels[128:])}


def test_the_loop_follows_the_schedule_with_accumulation_bf16_and_clipping(tmp_path: Path) -> None:
    train = {
        "optimizer": {"name": "adamw", "lr": 0.01},
        "lr_schedule": {"name": "cosine", "warmup_epochs": 2},
        "accumulate_grad_batches": 2,
        "gradient_clip_norm": 1.0,
        "precision": "bf16",
    }
    session = InProcess(data(), tmp_path)
    run_loop(loop_config(train), session)
    lrs = [m["lr"] for m in session.reports]
    # 128 rows / 16 per batch / 2 accumulated = 4 steps an epoch; lr after each epoch's steps.
    expected = [
        0.01 * lr_factor(4 * e, LrScheduleSpec(**train["lr_schedule"]), 4, 6)
        for e in (1, 2, 3, 4, 5, 6)
    ]
    assert lrs == pytest.approx(expected)
    assert session.reports[-1]["val_accuracy"] > 0.8  # it learned a linearly separable rule


def test_early_stopping_stops_and_resume_restores_its_counters(tmp_path: Path) -> None:
    # min_delta 1.0 on accuracy: nothing after the first epoch counts as better.
    train = {"early_stopping": {"patience": 2, "min_delta": 1.0}, "lr_schedule": {"name": "linear"}}
    session = InProcess(data(), tmp_path)
    run_loop(loop_config(train), session)
    assert [m["epoch"] for m in session.reports] == [1, 2, 3]
    assert session.reports[-1]["stopped_early"] == 1.0

    # Resuming from epoch 2 (one bad epoch counted) stops after one more epoch, at the same lr.
    resumed = InProcess(data(), tmp_path / "again", start=session.saved[1])
    run_loop(loop_config(train), resumed)
    assert [m["epoch"] for m in resumed.reports] == [3]
    assert resumed.reports[0]["lr"] == pytest.approx(session.reports[2]["lr"])
    assert not math.isnan(resumed.reports[0]["val_loss"])


def test_a_resumed_run_continues_exactly_as_the_uninterrupted_one(tmp_path: Path) -> None:
    """Weights, optimizer, schedule and the RNG (dropout's masks) all come back: the epochs
    after a resume equal the uninterrupted run's, value for value."""
    train = {"optimizer": {"name": "adamw", "lr": 0.01}, "lr_schedule": {"name": "cosine"}}
    config = loop_config(train)
    assert config.spec.model.kwargs == {"hidden": 16}  # build_mlp's dropout 0.1 draws masks
    whole = InProcess(data(), tmp_path / "whole")
    run_loop(config, whole)
    torch.manual_seed(12345)  # whatever the process's RNG holds now must not matter
    resumed = InProcess(data(), tmp_path / "resumed", start=whole.saved[2])
    run_loop(config, resumed)
    assert [m["epoch"] for m in resumed.reports] == [4, 5, 6]
    for got, want in zip(resumed.reports, whole.reports[3:], strict=True):
        assert got["train_loss"] == want["train_loss"]
        assert got["val_loss"] == want["val_loss"]


def test_adam_and_train_loss_as_the_metric(tmp_path: Path) -> None:
    config = loop_config({"optimizer": {"name": "adam", "lr": 0.01}, "metric": "train_loss"})
    assert config.spec.train.metric_mode == "min"  # derived from the metric
    session = InProcess(data(), tmp_path)
    run_loop(config, session)
    losses = [m["train_loss"] for m in session.reports]
    assert len(losses) == 6 and losses[-1] < losses[0]
    state = load_training_state(session.saved[-1])
    # Adam keeps no decoupled weight decay: the saved param groups say which one ran.
    assert state["optimizer"]["param_groups"][0]["decoupled_weight_decay"] is False


def test_a_regression_model_trains_on_mse_and_answers_a_value(tmp_path: Path) -> None:
    from raylight.runs.checkpoints import load_model
    from raylight.serving.predictor import Predictor

    train = {"loss": "mse", "metric": "val_loss", "optimizer": {"name": "adamw", "lr": 0.03}}
    spec = loop_config(train).spec
    preprocessing = FittedPreprocessing(
        feature_columns=("a", "b", "c", "d"), label_column="y", task="regression"
    )
    config = LoopConfig(spec=spec, spec_hash="unit", preprocessing=preprocessing, train_rows=128)
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(160, 4, generator=generator)
    target = features[:, 0] - 2 * features[:, 1] + 0.5
    rows = {"train": Rows(features[:128], target[:128]), "val": Rows(features[128:], target[128:])}
    session = InProcess(rows, tmp_path)
    run_loop(config, session)
    val_losses = [m["val_loss"] for m in session.reports]
    assert val_losses[-1] < val_losses[0] / 2 and "val_accuracy" not in session.reports[-1]

    model, _ = load_model(session.saved[-1])
    with torch.inference_mode():
        predicted = model.eval()(features[128:]).reshape(-1)
    errors = (predicted - target[128:]).numpy()
    assert session.reports[-1]["val_mae"] == pytest.approx(float(np.abs(errors).mean()), rel=1e-5)
    rmse = float(np.sqrt((errors**2).mean()))
    assert session.reports[-1]["val_rmse"] == pytest.approx(rmse, rel=1e-5)

    record = dict(zip(("a", "b", "c", "d"), features[130].tolist(), strict=True))
    (answer,) = Predictor(session.saved[-1]).predict([record])
    assert answer is not None and set(answer) == {"value"}
    with torch.inference_mode():
        expected = model(features[130:131]).item()
    assert answer["value"] == pytest.approx(expected, abs=1e-5)


def test_a_compiled_model_trains_and_its_checkpoint_loads_into_the_plain_module(
    tmp_path: Path,
) -> None:
    """train.compile: torch.compile wraps the model; the checkpoint holds the module's own keys."""
    from raylight.runs.checkpoints import load_model

    config = loop_config({"compile": True, "optimizer": {"name": "adamw", "lr": 0.01}})
    session = InProcess(data(), tmp_path)
    run_loop(config, session)
    assert session.reports[-1]["val_accuracy"] > 0.8
    model, _ = load_model(session.saved[-1])  # strict load into build_mlp's module
    assert not any(key.startswith("_orig_mod.") for key in model.state_dict())


def test_auroc_and_f1_equal_scikit_learns_on_the_validation_outputs(tmp_path: Path) -> None:
    from sklearn.metrics import f1_score, roc_auc_score

    from raylight.runs.checkpoints import load_model

    session = InProcess(data(), tmp_path)
    run_loop(loop_config({"optimizer": {"name": "adamw", "lr": 0.003}}), session)
    val = data()["val"]
    for saved, report in zip(session.saved, session.reports, strict=True):
        model, _ = load_model(saved)
        with torch.inference_mode():
            probabilities = model(val.features).softmax(dim=1)[:, 1].numpy()
        labels = val.labels.numpy()
        assert report["val_auroc"] == pytest.approx(roc_auc_score(labels, probabilities), abs=1e-6)
        f1 = f1_score(labels, (probabilities > 0.5).astype(int))
        assert report["val_f1"] == pytest.approx(f1, abs=1e-6)
