"""The loop kinds, one module each, behind one small interface.

A kind is its spec section (`raylight.spec.train`: which optional package it needs and which
spec fields it refuses, checked at `raylight validate`) plus a module here that turns a run's
setup into the per-worker function a TorchTrainer runs (`build_worker_plan`). The trainer looks
the kind up; a kind's module is imported only when that kind runs, since its framework is an
optional dependency.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylight.training.loops.config import LoopConfig

if TYPE_CHECKING:
    import ray.data
    import ray.train

    from raylight.preprocessing.datasets import PreparedData
    from raylight.spec.schema import Spec


@dataclass(frozen=True)
class LoopSetup:
    """What a loop kind is given to build its workers: one run of one spec."""

    spec: Spec
    spec_hash: str
    prepared: PreparedData
    run_path: Path  # the Train run's directory; its name is the run id in checkpoints
    start_from: str | None = None  # a checkpoint to begin from (a PBT donor's)

    def loop_config(self) -> LoopConfig:
        return LoopConfig(
            spec=self.spec,
            spec_hash=self.spec_hash,
            preprocessing=self.prepared.preprocessing,
            train_rows=self.prepared.num_train_rows,
            run_path=str(self.run_path),
            start_from=self.start_from,
            pretrained=self.prepared.pretrained,
        )


@dataclass(frozen=True)
class WorkerPlan:
    """What a TorchTrainer needs from a loop kind."""

    function: Callable[[dict[str, Any]], None]  # run on every worker with `config`
    config: dict[str, Any]  # train_loop_config: plain values only
    callbacks: list[ray.train.UserCallback] = field(default_factory=list)  # in the controller
    # The TorchTrainer's datasets by the names the loop reads; None: {"train", "val"} as prepared.
    datasets: dict[str, ray.data.Dataset] | None = None


# kind -> the module that builds its workers (each has `build_worker_plan(setup)`).
LOOP_MODULES = {
    "managed": "raylight.training.loops.managed",
    "ray_train": "raylight.training.loops.ray_train",
    "accelerate": "raylight.training.loops.accelerate",
    "lightning": "raylight.training.loops.lightning",
    "hf_trainer": "raylight.training.loops.hf_trainer",
}


def build_worker_plan(setup: LoopSetup) -> WorkerPlan:
    """The spec's loop kind's per-worker function, config and controller callbacks."""
    module = importlib.import_module(LOOP_MODULES[setup.spec.train.loop.kind])
    plan: WorkerPlan = module.build_worker_plan(setup)
    return plan
