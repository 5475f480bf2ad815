"""The managed loop's validation metrics beyond loss and accuracy, computed by torchmetrics.

AUROC and F1 (macro over classes; binary with two classes) for classification, MAE and RMSE for
regression. Each rank updates them with its shard's outputs; `compute` gathers every rank's
state (torchmetrics syncs over torch.distributed when it is initialized), so the values cover
the whole validation split, as the loss and accuracy do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from torchmetrics import MetricCollection


def validation_metrics(num_classes: int, device: torch.device) -> MetricCollection | None:
    """num_classes 0: regression; None for one class (nothing to rank or separate)."""
    from torchmetrics import MeanAbsoluteError, MeanSquaredError, Metric, MetricCollection
    from torchmetrics.classification import (
        BinaryAUROC,
        BinaryF1Score,
        MulticlassAUROC,
        MulticlassF1Score,
    )

    metrics: dict[str, Metric | MetricCollection]
    if num_classes == 1:
        return None
    if num_classes == 0:
        metrics = {"val_mae": MeanAbsoluteError(), "val_rmse": MeanSquaredError(squared=False)}
    elif num_classes == 2:
        metrics = {"val_auroc": BinaryAUROC(), "val_f1": BinaryF1Score()}
    else:
        metrics = {
            "val_auroc": MulticlassAUROC(num_classes=num_classes, average="macro"),
            "val_f1": MulticlassF1Score(num_classes=num_classes, average="macro"),
        }
    return MetricCollection(metrics).to(device)


def update_metrics(
    metrics: MetricCollection | None, outputs: torch.Tensor, labels: torch.Tensor
) -> None:
    """Logits (classification: probabilities are what AUROC ranks) or values, and the labels."""
    if metrics is None:
        return
    if outputs.ndim == 2:
        probabilities = outputs.float().softmax(dim=1)
        metrics.update(
            probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities, labels
        )
    else:
        metrics.update(outputs.float(), labels.float())


def compute_metrics(metrics: MetricCollection | None) -> dict[str, float]:
    """Every rank's state gathered: call it on all ranks."""
    if metrics is None:
        return {}
    values = {name: float(value) for name, value in metrics.compute().items()}
    metrics.reset()
    return values
