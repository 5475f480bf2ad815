"""The digits MLP as a LightningModule: its own optimizer, schedule, metrics and callbacks.

Raylight runs it with `train.loop.kind: lightning` (see lightning.yaml); nothing in it knows
about Ray. It logs under its own names (`val/loss`, `val/accuracy`): the spec ranks by one.
Batches are dicts with "features" and "label", as the spec's datasets provide them.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import pandas as pd
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, Dataset, random_split
from torchmetrics.classification import MulticlassAccuracy

from pipelines.digits.data import write_digits_parquet
from pipelines.digits.model import build_mlp


class DigitsClassifier(pl.LightningModule):
    def __init__(
        self,
        num_features: int,
        num_outputs: int,
        hidden: int = 128,
        dropout: float = 0.1,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = build_mlp(num_features, num_outputs, hidden=hidden, dropout=dropout)
        self.loss = nn.CrossEntropyLoss()
        # A torchmetrics metric syncs its counts over ranks: accuracy of the whole split.
        self.val_accuracy = MulticlassAccuracy(num_classes=num_outputs, average="micro")

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(self(batch["features"]), batch["label"])
        self.log("train/loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        # Rows trained on this epoch, summed over steps and ranks: the split's size when each
        # rank trains on its own part.
        rows = float(len(batch["label"]))
        self.log("train/rows", rows, on_step=False, on_epoch=True, reduce_fx="sum", sync_dist=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch["features"])
        self.val_accuracy(logits, batch["label"])
        rows = len(batch["label"])
        self.log("val/loss", self.loss(logits, batch["label"]), sync_dist=True, batch_size=rows)
        self.log("val/accuracy", self.val_accuracy, batch_size=rows)

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(self.trainer.max_epochs or 1, 1)
        )
        return {"optimizer": optimizer, "lr_scheduler": schedule}

    def configure_callbacks(self) -> list[pl.Callback]:
        return [
            EarlyStopping(monitor="val/accuracy", mode="max", patience=4),
            ModelCheckpoint(monitor="val/accuracy", mode="max", save_top_k=1),
            LearningRateMonitor(logging_interval="epoch"),
        ]


def build_classifier(num_features: int, num_outputs: int, **kwargs: Any) -> DigitsClassifier:
    """model.builder: Raylight passes num_features/num_outputs; the rest come from model.kwargs."""
    return DigitsClassifier(num_features, num_outputs, **kwargs)


class DigitsDataModule(pl.LightningDataModule):
    """A DataModule of the kind a Lightning project already has: its own reading and split.

    Used with `train.loop.datamodule` (lightning_datamodule.yaml). It applies the fitted
    `preprocessing` Raylight hands it, so its batches are exactly what serving computes. Its
    split is its own: the scaling was fitted on the spec's training split, so a few of its
    validation rows took part in that fit (means and deviations only, never labels).
    """

    def __init__(
        self, preprocessing: Any, batch_size: int, seed: int, val_fraction: float = 0.2
    ) -> None:
        super().__init__()
        self.preprocessing = preprocessing
        self.batch_size, self.seed, self.val_fraction = batch_size, seed, val_fraction

    def setup(self, stage: str) -> None:
        frame = pd.read_parquet(write_digits_parquet())
        rows = RowDataset(self.preprocessing.model_batch(frame))
        split = torch.Generator().manual_seed(self.seed)
        self.train_rows, self.val_rows = random_split(
            rows, [1 - self.val_fraction, self.val_fraction], generator=split
        )

    def train_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        return DataLoader(self.train_rows, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        return DataLoader(self.val_rows, batch_size=self.batch_size)


class RowDataset(Dataset[dict[str, torch.Tensor]]):
    """{"features", "label"} arrays as a map-style dataset of per-row dicts."""

    def __init__(self, batch: dict[str, Any]) -> None:
        self.features = torch.from_numpy(batch["features"])
        self.labels = torch.from_numpy(batch["label"])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"features": self.features[index], "label": self.labels[index]}


def build_datamodule(preprocessing: Any, batch_size: int, seed: int) -> DigitsDataModule:
    """train.loop.datamodule: Raylight passes the fitted preprocessing, batch size and seed."""
    return DigitsDataModule(preprocessing, batch_size, seed)
