"""Checkpoint -> predictions for raw records: the code every Serve replica runs per batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from raylight.training.checkpoints import CheckpointMeta, load_model


class Predictor:
    """The model and the fitted preprocessing of one checkpoint, applied to raw feature records."""

    def __init__(self, checkpoint_path: str | Path) -> None:
        self.checkpoint_path = Path(checkpoint_path)
        self.model, self.meta = load_model(self.checkpoint_path)
        self.preprocessing = self.meta.parsed_preprocessing

    @property
    def info(self) -> CheckpointMeta:
        return self.meta

    def predict(self, records: Sequence[Mapping[str, float]]) -> list[dict[str, Any]]:
        """One prediction per record: {label, probability} or {value} for regression."""
        if not records:
            return []
        features = torch.from_numpy(self.preprocessing.features_from_records(records))
        with torch.inference_mode():
            outputs = self.model(features)
        if self.preprocessing.task == "regression":
            return [{"value": float(v)} for v in outputs.reshape(-1).tolist()]
        probabilities = torch.softmax(outputs, dim=1)
        best = probabilities.max(dim=1)
        labels = self.preprocessing.decode(best.indices.tolist())
        return [
            {"label": label, "probability": round(float(p), 6)}
            for label, p in zip(labels, best.values.tolist(), strict=True)
        ]
