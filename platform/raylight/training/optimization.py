"""The managed loop's optimizer, learning-rate schedule and early stopping, from the spec.

The schedule is a function of the optimizer step, so warm-up and decay are smooth within an
epoch; the number of steps per epoch is known up front from the training split's row count.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from raylight.spec.train import EarlyStoppingSpec, LrScheduleSpec, OptimizerSpec


def build_optimizer(spec: OptimizerSpec, params: Iterator[nn.Parameter]) -> torch.optim.Optimizer:
    if spec.name == "sgd":
        return torch.optim.SGD(
            params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
        )
    optimizer_class = torch.optim.AdamW if spec.name == "adamw" else torch.optim.Adam
    return optimizer_class(params, lr=spec.lr, weight_decay=spec.weight_decay)


def steps_per_epoch(train_rows: int, world_size: int, batch_size: int, accumulate: int) -> int:
    """Optimizer steps one rank takes per epoch; every loop kind that needs the count uses this.

    Ray Train splits the training split with `streaming_split(equal=True)`: each rank gets
    train_rows // world_size rows (the remainder is dropped), in batches of batch_size, with an
    optimizer step every `accumulate` batches and one for a partial group at the end.
    """
    rows_per_rank = train_rows // max(world_size, 1)
    return max(1, math.ceil(math.ceil(rows_per_rank / batch_size) / accumulate))


def lr_factor(step: int, spec: LrScheduleSpec, steps_per_epoch: int, epochs: int) -> float:
    """The multiple of the base lr at optimizer step `step` (0-based)."""
    warmup = round(spec.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup
    if spec.name == "step":
        return float(spec.gamma ** ((step // steps_per_epoch) // spec.step_epochs))
    total = max(epochs * steps_per_epoch - warmup, 1)
    progress = min((step - warmup) / total, 1.0)
    if spec.name == "cosine":
        return spec.min_lr_ratio + (1 - spec.min_lr_ratio) * 0.5 * (
            1 + math.cos(math.pi * progress)
        )
    if spec.name == "linear":
        return 1 - (1 - spec.min_lr_ratio) * progress
    return 1.0


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer, spec: LrScheduleSpec, steps_per_epoch: int, epochs: int
) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        return lr_factor(step, spec, steps_per_epoch, epochs)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class EarlyStopping:
    """Counts epochs without improvement; every rank sees the same all-reduced metric."""

    mode: str
    patience: int
    min_delta: float
    best: float | None = None
    bad_epochs: int = 0

    @classmethod
    def from_spec(cls, spec: EarlyStoppingSpec, mode: str) -> EarlyStopping:
        return cls(mode=mode, patience=spec.patience, min_delta=spec.min_delta)

    def update(self, value: float) -> bool:
        """Record this epoch's value; True when training should stop."""
        improved = self.best is None or (
            value > self.best + self.min_delta
            if self.mode == "max"
            else value < self.best - self.min_delta
        )
        if improved:
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.bad_epochs = state["best"], int(state["bad_epochs"])
