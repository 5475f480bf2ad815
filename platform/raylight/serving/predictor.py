"""Checkpoint -> predictions for raw records: the code every Serve replica runs per batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raylight.preprocessing.images import DEFAULT_MAX_PIXELS
from raylight.preprocessing.model_io import call_model
from raylight.preprocessing.transforms import BadRecordError
from raylight.runs.checkpoints import load_model

__all__ = ["BadRecordError", "NonFiniteOutputError", "Predictor"]

Inputs = dict[str, np.ndarray]


class NonFiniteOutputError(ValueError):
    """Inputs that pass validation but drive the model to inf/NaN: the request's fault, a 422."""


class Predictor:
    """The model and the fitted preprocessing of one checkpoint, applied to raw records."""

    def __init__(
        self,
        checkpoint_path: str | Path,
        device: str = "cpu",
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.checkpoint_path = Path(checkpoint_path)
        self.device = device
        self.max_image_pixels = max_image_pixels
        model, self.meta = load_model(self.checkpoint_path)
        self.model = model.to(device)
        self.preprocessing = self.meta.parsed_preprocessing

    def encode(self, records: Sequence[Mapping[str, Any]]) -> Inputs:
        """Raw records (image bytes, text, numbers) -> model inputs; BadRecordError if unusable."""
        return self.preprocessing.inputs_from_records(records, self.max_image_pixels)

    def predict(
        self, records: Sequence[Mapping[str, Any]], probabilities: bool = False
    ) -> list[dict[str, Any] | None]:
        """One prediction per record: {label, probability}, or {value} for regression.

        A record whose output is not finite gets None, so that one bad record in a batch of
        requests fails only its own request. `probabilities` adds every class's probability.
        """
        if not records:
            return []
        return self.predict_inputs(self.encode(records), probabilities)

    def predict_inputs(
        self, inputs: Inputs, probabilities: bool | Sequence[bool] = False
    ) -> list[dict[str, Any] | None]:
        """Predictions for encoded inputs (`encode`'s, or several of them concatenated)."""
        rows = len(next(iter(inputs.values())))
        wanted = [probabilities] * rows if isinstance(probabilities, bool) else probabilities
        tensors = {name: torch.from_numpy(a).to(self.device) for name, a in inputs.items()}
        with torch.inference_mode():
            outputs = call_model(self.model, tensors).reshape(rows, -1).float().cpu()
        finite = torch.isfinite(outputs).all(dim=1).tolist()
        if self.preprocessing.task == "regression":
            values = outputs[:, 0].tolist()
            return [{"value": v} if ok else None for v, ok in zip(values, finite, strict=True)]
        probs = torch.softmax(outputs, dim=1)
        best = probs.max(dim=1)
        labels = self.preprocessing.decode(best.indices.tolist())
        classes = [str(c) for c in self.preprocessing.label_classes]
        out: list[dict[str, Any] | None] = []
        for i, (label, p, ok) in enumerate(zip(labels, best.values.tolist(), finite, strict=True)):
            if not ok:
                out.append(None)
                continue
            prediction: dict[str, Any] = {"label": label, "probability": round(p, 6)}
            if wanted[i]:
                prediction["probabilities"] = dict(
                    zip(classes, (round(v, 6) for v in probs[i].tolist()), strict=True)
                )
            out.append(prediction)
        return out


def concat_inputs(parts: Sequence[Inputs]) -> Inputs:
    """Several requests' encoded inputs as one batch, in order."""
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def rows_of(inputs: Inputs) -> int:
    return len(next(iter(inputs.values())))
