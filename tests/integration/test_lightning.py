"""A LightningModule (pipelines/digits/lightning_module.py) trained on 2 workers, and served."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipelines.digits.lightning_module import build_datamodule
from raylight.cluster import ClusterInfo
from raylight.runs.checkpoints import load_model, read_meta
from raylight.runs.history import METRICS_FILE
from raylight.spec import LoadedSpec, load_spec
from raylight.training import TrainingResult, run_training
from tests.conftest import LIGHTNING_DATAMODULE_SPEC
from tests.integration.conftest import offline_val_accuracy, serve_spec_and_predict_example


def test_lightning_reaches_the_accuracy_bar_and_reports_every_epoch(
    lightning_digits: LoadedSpec, trained_lightning: TrainingResult
) -> None:
    assert trained_lightning.metric_value >= 0.95
    history = [
        json.loads(line)
        for line in (trained_lightning.run_path / METRICS_FILE).read_text().splitlines()
    ]
    epochs = [int(m["epoch"]) for m in history]
    assert epochs == list(range(1, len(epochs) + 1))  # EarlyStopping may end it before 12
    # The module's own names, as it logs them (self.log), ranked by val/accuracy.
    assert {"train/loss", "val/loss", "val/accuracy"} <= set(history[-1])
    assert lightning_digits.spec.train.metric == "val/accuracy"


def test_the_modules_own_lightning_callbacks_ran(trained_lightning: TrainingResult) -> None:
    logs = trained_lightning.run_path / "lightning" / "logs"
    # ModelCheckpoint kept its best file; LearningRateMonitor logged the cosine schedule. The
    # run was restarted twice (kills.py): each Trainer logged a version of its own, in order.
    assert list(logs.glob("version_*/checkpoints/*.ckpt"))
    versions = sorted(logs.glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    rows = [row for v in versions for row in csv.DictReader((v / "metrics.csv").open())]
    lrs = [float(row["lr-AdamW"]) for row in rows if row.get("lr-AdamW")]
    assert len(lrs) >= 2 and lrs[-1] < lrs[0]


def test_lightning_checkpoint_reproduces_its_metric_and_is_served(
    lightning_digits: LoadedSpec, trained_lightning: TrainingResult
) -> None:
    directory = trained_lightning.checkpoint_path
    assert (directory / "lightning.ckpt").is_file()  # what a restart resumes from
    model, meta = load_model(directory)
    assert meta.spec_hash == lightning_digits.spec_hash
    assert offline_val_accuracy(lightning_digits, model) == pytest.approx(
        trained_lightning.metric_value, abs=1e-6
    )

    serve_spec_and_predict_example(lightning_digits, directory)


def test_a_lightning_datamodule_feeds_each_worker_its_own_part_and_is_served(
    ray_cluster: ClusterInfo, digits_storage: Path, serve_port: int
) -> None:
    loaded = load_spec(
        LIGHTNING_DATAMODULE_SPEC,
        [f"run.storage_path={digits_storage}", f"serve.port={serve_port}", "train.epochs=4"],
    )
    result = run_training(loaded)
    history = [
        json.loads(line) for line in (result.run_path / METRICS_FILE).read_text().splitlines()
    ]
    # The DataModule's own split, rebuilt here: summed over both ranks, each epoch trained on
    # its training rows once (half each through the DistributedSampler), not twice.
    preprocessing = read_meta(result.checkpoint_path).parsed_preprocessing
    datamodule = build_datamodule(
        preprocessing, loaded.spec.train.batch_size, loaded.spec.train.seed
    )
    datamodule.setup("fit")
    assert [m["train/rows"] for m in history] == [float(len(datamodule.train_rows))] * 4
    assert result.metric_value >= 0.9
    prediction = serve_spec_and_predict_example(loaded, result.checkpoint_path)
    assert 0 <= int(prediction["label"]) <= 9
