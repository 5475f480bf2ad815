"""Your own Ray Train loop (`train.loop.kind: ray_train`), run as written; its checkpoints served.

The loop calls Ray Train's API itself (`get_dataset_shard`, `get_checkpoint`, `report`); Raylight
supplies the config, the preprocessed datasets, storage, retries and the run record. What
Raylight cannot know is the loop's checkpoint layout, so the spec names the file that holds the
state_dict (`train.loop.weights_file`); as each checkpoint is committed, a controller callback
converts that file to safetensors and adds the metadata that `raylight serve` reads.
"""

from __future__ import annotations

import inspect
import logging
import os
from functools import partial
from pathlib import Path
from typing import Any

import ray.data
import ray.train

from raylight.components import resolve
from raylight.preprocessing.datasets import PreparedData
from raylight.runs.checkpoints import CheckpointMeta, make_servable
from raylight.spec.schema import Spec
from raylight.spec.train import UserFunctionLoop
from raylight.training.faults import install_pause_after_report
from raylight.training.loops import LoopSetup, WorkerPlan

logger = logging.getLogger(__name__)


def build_worker_plan(setup: LoopSetup, environment: dict[str, str] | None = None) -> WorkerPlan:
    """The user's function on every worker; `environment` is set there first (Accelerate's)."""
    loop = setup.spec.train.loop
    assert isinstance(loop, UserFunctionLoop)
    stamp = ServableCheckpoints(
        setup.spec,
        setup.spec_hash,
        setup.prepared.preprocessing.to_dict(),
        run_id=setup.run_path.name,
    )
    return WorkerPlan(
        function=partial(run_user_loop, loop.function, environment or {}),
        config=user_loop_config(setup.spec, setup.prepared),
        callbacks=[stamp],
        datasets=user_datasets(loop, setup.prepared),
    )


def user_datasets(loop: UserFunctionLoop, prepared: PreparedData) -> dict[str, ray.data.Dataset]:
    """The splits under the loop's own dataset names, with its own column names.

    `train.loop.datasets` maps your name -> Raylight's split, `train.loop.columns` your column
    -> Raylight's; a renamed column is the same data ('features' stays one vector column).
    """
    splits = {"train": prepared.train, "val": prepared.val}
    unmapped = {split: split for split in splits if split not in loop.datasets.values()}
    names = {**unmapped, **loop.datasets}  # a split the map leaves out keeps its name
    renames = {raylight: yours for yours, raylight in loop.columns.items() if yours != raylight}
    return {
        yours: splits[split].rename_columns(renames) if renames else splits[split]
        for yours, split in names.items()
    }


def user_loop_config(spec: Spec, prepared: PreparedData) -> dict[str, Any]:
    """The config the user's function gets: its own keys plus the spec's common ones."""
    loop = spec.train.loop
    assert isinstance(loop, UserFunctionLoop)
    train = spec.train
    return {
        "epochs": train.epochs,
        "batch_size": train.batch_size,
        "lr": train.optimizer.lr,
        "weight_decay": train.optimizer.weight_decay,
        "seed": train.seed,
        **prepared.preprocessing.model_inputs(),
        "model_kwargs": dict(spec.model.kwargs),
        **loop.config,
    }


def run_user_loop(function: str, environment: dict[str, str], config: dict[str, Any]) -> None:
    """On each worker: import the user's function there (by name, not by pickle) and call it."""
    os.environ.update(environment)
    install_pause_after_report()  # tests only: before the loop's module binds ray.train.report
    loop = resolve(function, "train.loop.function")
    if inspect.signature(loop).parameters:
        loop(config)
    else:
        loop()


class ServableCheckpoints(ray.train.UserCallback):
    """Adds Raylight's model file and metadata to each checkpoint the user's loop commits.

    Runs in the Train controller, after the checkpoint is in storage. A checkpoint it cannot
    convert is left as the loop wrote it (and a warning says why): training goes on, and
    `raylight serve` refuses that checkpoint with a message instead of serving something wrong.
    """

    def __init__(self, spec: Spec, spec_hash: str, preprocessing: dict[str, Any], run_id: str):
        loop = spec.train.loop
        assert isinstance(loop, UserFunctionLoop)
        self.weights_file = loop.weights_file
        self.spec = spec.model_dump(mode="json")
        self.spec_hash = spec_hash
        self.preprocessing = preprocessing
        self.run_id = run_id

    def after_report(
        self,
        run_context: Any,
        metrics: list[dict[str, Any]],
        checkpoint: ray.train.Checkpoint | None,
    ) -> None:
        if checkpoint is None:
            return
        directory = Path(checkpoint.path)
        numbers = {
            k: float(v) for k, v in metrics[0].items() if isinstance(v, int | float)
        }  # rank 0's, like the metrics Ray keeps with the checkpoint
        meta = CheckpointMeta.of_epoch(
            spec=self.spec,
            spec_hash=self.spec_hash,
            preprocessing=self.preprocessing,
            metrics=numbers,
            run_id=self.run_id,
        )
        try:
            make_servable(directory, self.weights_file, meta)
        except Exception as error:  # safetensors, torch, the filesystem: never stop the run
            logger.warning("checkpoint %s cannot be served: %s", directory, error)
