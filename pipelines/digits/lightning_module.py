"""The digits MLP as a LightningModule: its own optimizer, schedule, metrics and callbacks.

Raylight runs it with `train.loop.kind: lightning` (see lightning.yaml); nothing in it knows
about Ray. Batches are dicts with "features" and "label", as the spec's datasets provide them.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

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
        self.log("train_loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch["features"])
        self.val_accuracy(logits, batch["label"])
        rows = len(batch["label"])
        self.log("val_loss", self.loss(logits, batch["label"]), sync_dist=True, batch_size=rows)
        self.log("val_accuracy", self.val_accuracy, batch_size=rows)

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
            EarlyStopping(monitor="val_accuracy", mode="max", patience=4),
            ModelCheckpoint(monitor="val_accuracy", mode="max", save_top_k=1),
            LearningRateMonitor(logging_interval="epoch"),
        ]


def build_classifier(num_features: int, num_outputs: int, **kwargs: Any) -> DigitsClassifier:
    """model.builder: Raylight passes num_features/num_outputs; the rest come from model.kwargs."""
    return DigitsClassifier(num_features, num_outputs, **kwargs)
