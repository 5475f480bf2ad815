"""The digits CNN as a LightningModule: batches are dicts with "image" and "label".

Raylight runs it with `train.loop.kind: lightning` (lightning.yaml); nothing in it knows about
Ray. `forward(image)` is also what the endpoint calls, by name.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from pipelines.digits_images.model import DigitsCNN


class DigitImagesClassifier(pl.LightningModule):
    def __init__(
        self,
        image_channels: int,
        image_size: int,
        num_outputs: int,
        width: int = 16,
        lr: float = 5e-3,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = DigitsCNN(image_channels, image_size, num_outputs, width)
        self.loss = nn.CrossEntropyLoss()
        # Synced over ranks by torchmetrics: the accuracy of the whole validation split.
        self.val_accuracy = MulticlassAccuracy(num_classes=num_outputs, average="micro")

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(self(batch["image"]), batch["label"])
        self.log("train_loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch["image"])
        self.val_accuracy(logits, batch["label"])
        rows = len(batch["label"])
        self.log("val_loss", self.loss(logits, batch["label"]), sync_dist=True, batch_size=rows)
        self.log("val_accuracy", self.val_accuracy, batch_size=rows)

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(self.trainer.max_epochs or 1, 1)
        )
        return {"optimizer": optimizer, "lr_scheduler": schedule}


def build_classifier(
    image_channels: int, image_size: int, num_outputs: int, **kwargs: Any
) -> DigitImagesClassifier:
    """model.builder: Raylight passes the image's shape and the class count."""
    return DigitImagesClassifier(image_channels, image_size, num_outputs, **kwargs)
