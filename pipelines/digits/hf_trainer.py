"""The digits classifier as a Hugging Face model, trained by transformers.Trainer.

Nothing here knows about Ray. The model is a tiny PreTrainedModel built from its config (no hub
download): the digits MLP behind Hugging Face's interface (`labels` in, `loss` and `logits`
out). Raylight runs `build_trainer` on every Ray Train worker (see hf_trainer.yaml) with the
model from `build_model`, TrainingArguments from the spec and the worker's Ray Data shards.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel, Trainer, TrainingArguments
from transformers.modeling_outputs import SequenceClassifierOutput

from pipelines.digits.model import build_mlp


class DigitsConfig(PretrainedConfig):
    model_type = "raylight-digits-mlp"

    def __init__(
        self, num_features: int = 64, hidden: int = 128, dropout: float = 0.1, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.num_features = num_features
        self.hidden = hidden
        self.dropout = dropout


class DigitsClassifier(PreTrainedModel):
    config_class = DigitsConfig

    def __init__(self, config: DigitsConfig) -> None:
        super().__init__(config)
        self.net = build_mlp(config.num_features, config.num_labels, config.hidden, config.dropout)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """Keep torch's default initialization of the MLP's layers."""

    def forward(
        self, features: torch.Tensor, labels: torch.Tensor | None = None
    ) -> SequenceClassifierOutput:
        logits = self.net(features)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def build_model(
    num_features: int, num_outputs: int, hidden: int = 128, dropout: float = 0.1
) -> DigitsClassifier:
    """model.builder: what training starts from and what serving loads the weights into."""
    config = DigitsConfig(
        num_features=num_features, num_labels=num_outputs, hidden=hidden, dropout=dropout
    )
    return DigitsClassifier(config)


def accuracy_and_f1(prediction: Any) -> dict[str, float]:
    """compute_metrics, as HF's examples write it; the Trainer prefixes the names with eval_."""
    from sklearn.metrics import f1_score

    logits, labels = prediction
    predicted = np.argmax(logits, axis=-1)
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "f1": float(f1_score(labels, predicted, average="macro")),
    }


def build_trainer(
    model: DigitsClassifier, args: TrainingArguments, train_dataset: Any, eval_dataset: Any
) -> Trainer:
    """The factory Raylight calls (train.loop.trainer)."""
    return Trainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        compute_metrics=accuracy_and_f1,
    )
