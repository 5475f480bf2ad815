"""How every loop kind reads its worker's Ray Data shard: one shuffle rule for all of them."""

from __future__ import annotations

from typing import Any

from raylight.spec.train import TrainSpec

SHUFFLE_BUFFER_BATCHES = 16


def shuffle_options(train: TrainSpec, epoch: int) -> dict[str, Any]:
    """`iter_torch_batches` options for a seeded local shuffle, different in every epoch."""
    return {
        "local_shuffle_buffer_size": train.batch_size * SHUFFLE_BUFFER_BATCHES,
        "local_shuffle_seed": train.seed * 100_003 + epoch,
    }
