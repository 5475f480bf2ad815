"""What the managed loop needs from whoever runs it: a Ray Train worker, or a Tune trial itself.

The loop is written once against `LoopSession`; `TrainWorkerSession` backs it with Ray Train's
API (one rank of a worker group), and tuning backs it with Tune's for in-process trials.
"""

from __future__ import annotations

from typing import Any, Protocol

import ray.train
import ray.train.torch
import torch
from torch import nn


class LoopSession(Protocol):
    rank: int  # 0 writes checkpoints
    world_size: int  # ranks sharing the data (each sees 1/world_size of it)
    run_id: str  # the Train run or Tune trial, recorded in each checkpoint
    device: torch.device

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Move to the device (and wrap for data parallelism where there are ranks)."""

    def dataset(self, split: str) -> Any:
        """This rank's part of a split; anything with Ray Data's `iter_torch_batches`."""

    def checkpoint(self) -> ray.train.Checkpoint | None:
        """The checkpoint to continue from: after a restart, or handed over by PBT."""

    def report(self, metrics: dict[str, float], checkpoint: ray.train.Checkpoint | None) -> None:
        """One epoch's metrics (and rank 0's checkpoint); every rank calls it."""


class TrainWorkerSession:
    """One rank of a Ray Train worker group (or Train's local mode with num_workers=0)."""

    def __init__(self, start_from: str | None = None) -> None:
        self.start_from = start_from
        context = ray.train.get_context()
        self.rank = context.get_world_rank()
        self.world_size = context.get_world_size()
        self.run_id = context.get_experiment_name()
        self.device = ray.train.torch.get_device()

    def prepare_model(self, model: nn.Module) -> nn.Module:
        prepared: nn.Module = ray.train.torch.prepare_model(model)
        return prepared

    def dataset(self, split: str) -> Any:
        return ray.train.get_dataset_shard(split)

    def checkpoint(self) -> ray.train.Checkpoint | None:
        """The run's own latest checkpoint after a restart, else the one it was started from."""
        own = ray.train.get_checkpoint()
        if own is None and self.start_from:
            return ray.train.Checkpoint(self.start_from)
        return own

    def report(self, metrics: dict[str, float], checkpoint: ray.train.Checkpoint | None) -> None:
        ray.train.report(metrics, checkpoint=checkpoint)
