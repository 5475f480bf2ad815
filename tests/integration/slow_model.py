"""A digits MLP whose forward pass takes a fixed time: a deterministic slow model for serving."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from pipelines.digits.model import build_mlp


def build_slow_mlp(num_features: int, num_outputs: int, delay_s: float, **kwargs: Any) -> nn.Module:
    """build_mlp's module (same weights' names) whose every forward first sleeps `delay_s`."""
    model = build_mlp(num_features, num_outputs, **kwargs)
    forward = model.forward

    def slow_forward(features: torch.Tensor) -> torch.Tensor:
        time.sleep(delay_s)
        result: torch.Tensor = forward(features)
        return result

    model.forward = slow_forward  # type: ignore[method-assign]
    return model
