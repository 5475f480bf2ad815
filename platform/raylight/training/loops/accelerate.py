"""Your own loop using Hugging Face Accelerate (`train.loop.kind: accelerate`).

It runs exactly like a `ray_train` loop; the one difference is that `Accelerator()` reads the
spec's precision and gradient accumulation from environment variables Raylight sets on every
worker before calling the loop (Accelerate's own convention when its arguments are left out).
"""

from __future__ import annotations

from raylight.spec.train import TrainSpec
from raylight.training.loops import LoopSetup, WorkerPlan, ray_train

# Accelerator() reads these when its arguments are left at their defaults.
ACCELERATE_PRECISION = {"32": "no", "bf16": "bf16", "fp16": "fp16"}


def build_worker_plan(setup: LoopSetup) -> WorkerPlan:
    return ray_train.build_worker_plan(setup, environment=accelerate_environment(setup.spec.train))


def accelerate_environment(train: TrainSpec) -> dict[str, str]:
    """The spec's precision and accumulation, as the variables Accelerator() reads."""
    return {
        "ACCELERATE_MIXED_PRECISION": ACCELERATE_PRECISION[train.precision],
        "ACCELERATE_GRADIENT_ACCUMULATION_STEPS": str(train.accumulate_grad_batches),
    }
