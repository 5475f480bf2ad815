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
from dataclasses import asdict
from pathlib import Path
from typing import Any

import ray.train

import raylight
from raylight.components import resolve
from raylight.preprocessing.datasets import PreparedData
from raylight.spec.schema import AccelerateLoop, RayTrainLoop, Spec
from raylight.training.checkpoints import META_FILE, MODEL_FILE, CheckpointMeta, write_json_atomic

logger = logging.getLogger(__name__)
# Where a state_dict may sit inside a saved dict: {"model": sd}, {"state_dict": sd}, ...
STATE_DICT_KEYS = ("model_state_dict", "state_dict", "model")
# Wrappers whose prefixes end up in the keys of a state_dict saved without unwrapping.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def user_loop_config(spec: Spec, prepared: PreparedData) -> dict[str, Any]:
    """The config the user's function gets: its own keys plus the spec's common ones."""
    loop = spec.train.loop
    assert isinstance(loop, RayTrainLoop)
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


# Accelerator() reads these when its arguments are left at their defaults.
ACCELERATE_PRECISION = {"32": "no", "bf16": "bf16", "fp16": "fp16"}


def loop_environment(spec: Spec) -> dict[str, str]:
    """Environment for the user's function: the spec's precision and accumulation for Accelerate."""
    if not isinstance(spec.train.loop, AccelerateLoop):
        return {}
    return {
        "ACCELERATE_MIXED_PRECISION": ACCELERATE_PRECISION[spec.train.precision],
        "ACCELERATE_GRADIENT_ACCUMULATION_STEPS": str(spec.train.accumulate_grad_batches),
    }


def run_user_loop(function: str, environment: dict[str, str], config: dict[str, Any]) -> None:
    """On each worker: import the user's function there (by name, not by pickle) and call it."""
    os.environ.update(environment)
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
        assert isinstance(loop, RayTrainLoop)
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
        meta = CheckpointMeta(
            spec=self.spec,
            spec_hash=self.spec_hash,
            preprocessing=self.preprocessing,
            epoch=int(numbers.get("epoch", 0)),
            metrics=numbers,
            raylight_version=raylight.__version__,
            run_id=self.run_id,
        )
        try:
            make_servable(directory, self.weights_file, meta)
        except Exception as error:  # safetensors, torch, the filesystem: never stop the run
            logger.warning("checkpoint %s cannot be served: %s", directory, error)


def make_servable(directory: Path, weights_file: str, meta: CheckpointMeta) -> None:
    """Write `model.safetensors` from the loop's weights file, then the metadata (atomically)."""
    from safetensors.torch import save_file

    source = directory / weights_file
    if not source.is_file():
        present = sorted(p.name for p in directory.iterdir())
        raise ValueError(f"no {weights_file} in it (train.loop.weights_file); it has {present}")
    state = plain_state_dict(read_weights(source))
    temporary = directory / f".{MODEL_FILE}.tmp"
    save_file(state, str(temporary))
    temporary.replace(directory / MODEL_FILE)
    write_json_atomic(directory / META_FILE, asdict(meta))


def read_weights(path: Path) -> dict[str, Any]:
    """Load tensors without unpickling arbitrary objects (safetensors or weights_only)."""
    import torch
    from safetensors.torch import load_file

    if path.suffix == ".safetensors":
        return load_file(str(path))
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError and others for unsafe content
        raise ValueError(
            f"{path.name} does not load with torch.load(weights_only=True): "
            f"{str(error).splitlines()[0]}"
        ) from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path.name} holds a {type(loaded).__name__}, not a state_dict")
    return loaded


def plain_state_dict(loaded: dict[str, Any]) -> dict[str, Any]:
    """The module's own tensors: unnest `{"model": sd}` and strip DDP/compile key prefixes."""
    import torch

    for key in STATE_DICT_KEYS:
        if isinstance(loaded.get(key), dict):
            loaded = loaded[key]
            break
    state = {}
    for name, value in loaded.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"entry {name!r} is a {type(value).__name__}, not a tensor")
        while name.startswith(WRAPPER_PREFIXES):
            name = name.split(".", 1)[1]
        state[name] = value.detach().contiguous().clone()  # clone: safetensors refuses shared
    return state
