"""The reviews classifier trained by transformers.Trainer (train.loop.kind: hf_trainer).

Nothing here knows about Ray: Raylight calls `build_trainer` on every Ray Train worker with the
model from model.py, TrainingArguments from the spec, and the worker's Ray Data shards, whose
batches hold input_ids, attention_mask and labels, the names the model's forward takes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from transformers import Trainer, TrainingArguments

from pipelines.reviews.model import ReviewsClassifier


def accuracy(prediction: Any) -> dict[str, float]:
    logits, labels = prediction
    return {"accuracy": float(np.mean(np.argmax(logits, axis=-1) == labels))}


def build_trainer(
    model: ReviewsClassifier, args: TrainingArguments, train_dataset: Any, eval_dataset: Any
) -> Trainer:
    """The factory Raylight calls (train.loop.trainer)."""
    return Trainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        compute_metrics=accuracy,
    )
