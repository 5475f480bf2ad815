"""A model builder whose first call fails: a trial that a retry (tune.max_failures) rescues."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from pipelines.digits.model import build_mlp


def build_failing_once(
    num_features: int, num_outputs: int, marker: str, hidden: int = 32, dropout: float = 0.1
) -> nn.Module:
    path = Path(marker)
    if not path.exists():
        path.write_text("the first attempt failed here\n")
        raise RuntimeError("a first attempt that fails")
    return build_mlp(num_features, num_outputs, hidden=hidden, dropout=dropout)
