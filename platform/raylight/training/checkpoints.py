"""Checkpoint format: safetensors weights + a weights-only torch file + JSON metadata.

Nothing in a checkpoint is unpickled as arbitrary objects: weights load through safetensors,
training state through `torch.load(weights_only=True)`, everything else is JSON. The JSON file
is written last, with an atomic rename, so a directory without it is never treated as complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylight.components import call_model_builder
from raylight.errors import TargetError
from raylight.preprocessing.transforms import FittedPreprocessing
from raylight.spec.schema import Spec

if TYPE_CHECKING:
    import torch

MODEL_FILE = "model.safetensors"
TRAINING_STATE_FILE = "training_state.pt"
META_FILE = "raylight.json"


@dataclass(frozen=True)
class CheckpointMeta:
    """What a checkpoint is: the spec that made it, its preprocessing, and its metrics."""

    spec: dict[str, Any]
    spec_hash: str
    preprocessing: dict[str, Any]
    epoch: int
    metrics: dict[str, float]
    raylight_version: str
    run_id: str | None = None  # the Train run or Tune trial that wrote it
    started_from: dict[str, Any] | None = None  # the checkpoint that run continued from

    @classmethod
    def of_epoch(
        cls,
        loop_config: dict[str, Any],
        metrics: dict[str, float],
        run_id: str | None,
        started_from: dict[str, Any] | None = None,
    ) -> CheckpointMeta:
        """The metadata of an epoch's checkpoint, from the config every loop kind is given."""
        import raylight

        return cls(
            spec=loop_config["spec"],
            spec_hash=loop_config["spec_hash"],
            preprocessing=loop_config["preprocessing"],
            epoch=int(metrics["epoch"]),
            metrics=metrics,
            raylight_version=raylight.__version__,
            run_id=run_id,
            started_from=started_from,
        )

    @property
    def parsed_spec(self) -> Spec:
        return Spec.model_validate(self.spec)

    @property
    def parsed_preprocessing(self) -> FittedPreprocessing:
        return FittedPreprocessing.from_dict(self.preprocessing)


def save_checkpoint(
    directory: Path,
    model: torch.nn.Module | dict[str, torch.Tensor],
    training_state: dict[str, Any],
    meta: CheckpointMeta,
) -> None:
    """Write a complete checkpoint into `directory` (metadata last, atomically).

    `model` may be a full state dict instead (FSDP gathers one; the sharded module has none).
    """
    import torch
    from safetensors.torch import save_file, save_model

    if isinstance(model, dict):
        save_file({k: v.contiguous() for k, v in model.items()}, str(directory / MODEL_FILE))
    else:
        save_model(model, str(directory / MODEL_FILE))
    torch.save(training_state, directory / TRAINING_STATE_FILE)
    write_json_atomic(directory / META_FILE, asdict(meta))


def save_servable(
    directory: Path,
    model: torch.nn.Module,
    loop_config: dict[str, Any],
    metrics: dict[str, float],
    run_id: str,
) -> None:
    """Write what `raylight serve` reads: the weights as safetensors, then the metadata.

    For loops whose own resume checkpoint sits beside it (Lightning, the HF Trainer).
    """
    from safetensors.torch import save_model

    save_model(model, str(directory / MODEL_FILE))
    meta = CheckpointMeta.of_epoch(loop_config, metrics, run_id)
    write_json_atomic(directory / META_FILE, asdict(meta))


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 over a model's tensors (names, dtypes, shapes, values), independent of file layout."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        values = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{values.dtype}:{tuple(values.shape)}".encode())
        digest.update(values.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON so that readers see either the old file or the whole new one."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(temporary, path)


def read_meta(directory: Path) -> CheckpointMeta:
    meta_path = Path(directory) / META_FILE
    if not meta_path.is_file():
        raise TargetError(
            f"{directory} is not a complete Raylight checkpoint (no {META_FILE}); pass a "
            "checkpoint directory, a run directory or a spec file."
        )
    return CheckpointMeta(**json.loads(meta_path.read_text()))


def load_training_state(directory: Path) -> dict[str, Any]:
    import torch

    path = Path(directory) / TRAINING_STATE_FILE
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def load_model(directory: Path, device: str = "cpu") -> tuple[torch.nn.Module, CheckpointMeta]:
    """Rebuild the model from the spec's builder and load the checkpoint's weights into it."""
    from safetensors.torch import load_model as load_weights

    meta = read_meta(directory)
    spec = meta.parsed_spec
    preprocessing = meta.parsed_preprocessing
    model = call_model_builder(spec.model.builder, spec.model.kwargs, preprocessing.model_inputs())
    load_weights(model, str(Path(directory) / MODEL_FILE), device=device)
    model.eval()
    return model, meta
