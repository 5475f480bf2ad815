"""A small MLP for the 64-pixel digits: two hidden layers with ReLU and dropout."""

from __future__ import annotations

from torch import nn


def build_mlp(
    num_features: int, num_outputs: int, hidden: int = 128, dropout: float = 0.1
) -> nn.Module:
    """Raylight passes num_features/num_outputs from the data; hidden/dropout come from the spec."""
    return nn.Sequential(
        nn.Linear(num_features, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, num_outputs),
    )
