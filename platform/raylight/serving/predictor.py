"""Checkpoint -> predictions for raw records: the code every Serve replica runs per batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from raylight.runs.checkpoints import load_model


class NonFiniteOutputError(ValueError):
    """Inputs that pass validation but drive the model to inf/NaN: the request's fault, a 422."""


class Predictor:
    """The model and the fitted preprocessing of one checkpoint, applied to raw feature records."""

    def __init__(self, checkpoint_path: str | Path, device: str = "cpu") -> None:
        self.checkpoint_path = Path(checkpoint_path)
        self.device = device
        model, self.meta = load_model(self.checkpoint_path)
        self.model = model.to(device)
        self.preprocessing = self.meta.parsed_preprocessing

    def predict(self, records: Sequence[Mapping[str, float]]) -> list[dict[str, Any] | None]:
        """One prediction per record: {label, probability}, or {value} for regression.

        A record whose output is not finite gets None, so that one bad record in a batch of
        requests fails only its own request.
        """
        if not records:
            return []
        features = torch.from_numpy(self.preprocessing.features_from_records(records))
        with torch.inference_mode():
            outputs = logits_of(self.model(features.to(self.device)))
            outputs = outputs.reshape(len(records), -1).float().cpu()
        finite = torch.isfinite(outputs).all(dim=1).tolist()
        if self.preprocessing.task == "regression":
            values = outputs[:, 0].tolist()
            return [{"value": v} if ok else None for v, ok in zip(values, finite, strict=True)]
        best = torch.softmax(outputs, dim=1).max(dim=1)
        labels = self.preprocessing.decode(best.indices.tolist())
        return [
            {"label": label, "probability": round(p, 6)} if ok else None
            for label, p, ok in zip(labels, best.values.tolist(), finite, strict=True)
        ]


def logits_of(output: Any) -> torch.Tensor:
    """A module's output tensor; Hugging Face models return it as `.logits` of a ModelOutput."""
    if isinstance(output, torch.Tensor):
        return output
    logits = (
        output.get("logits") if isinstance(output, Mapping) else getattr(output, "logits", None)
    )
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"the model returned a {type(output).__name__}, not a tensor or .logits")
    return logits
