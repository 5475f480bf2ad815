"""Checkpoint format: safetensors weights + a weights-only torch file + JSON metadata.

Nothing in a checkpoint is unpickled as arbitrary objects: weights load through safetensors,
training state through `torch.load(weights_only=True)`, everything else is JSON. The JSON file
is written last, with an atomic rename, so a directory without it is never treated as complete.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylight.errors import TargetError
from raylight.preprocessing.transforms import FittedPreprocessing
from raylight.runs.files import write_json_atomic
from raylight.runs.pretrained import build_model
from raylight.runs.weights import plain_state_dict, read_weights
from raylight.spec.schema import Spec

if TYPE_CHECKING:
    import torch

MODEL_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"  # a text checkpoint's tokenizer, also in raylight.json
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
    pretrained: dict[str, Any] | None = None  # the weights it was fine-tuned from: path, sha256

    @classmethod
    def of_epoch(
        cls,
        *,
        spec: dict[str, Any],
        spec_hash: str,
        preprocessing: dict[str, Any],
        metrics: dict[str, float],
        run_id: str | None,
        started_from: dict[str, Any] | None = None,
        pretrained: dict[str, Any] | None = None,
    ) -> CheckpointMeta:
        """The metadata of an epoch's checkpoint; `epoch` is the metrics' own."""
        import raylight

        return cls(
            spec=spec,
            spec_hash=spec_hash,
            preprocessing=preprocessing,
            epoch=int(metrics.get("epoch", 0)),
            metrics=metrics,
            raylight_version=raylight.__version__,
            run_id=run_id,
            started_from=started_from,
            pretrained=pretrained,
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
    _write_tokenizer(directory, meta)
    write_json_atomic(directory / META_FILE, asdict(meta))


def save_servable(directory: Path, model: torch.nn.Module, meta: CheckpointMeta) -> None:
    """Write what `raylight serve` reads: the weights as safetensors, then the metadata.

    For loops whose own resume checkpoint sits beside it (Lightning, the HF Trainer).
    """
    from safetensors.torch import save_model

    save_model(model, str(directory / MODEL_FILE))
    _write_tokenizer(directory, meta)
    write_json_atomic(directory / META_FILE, asdict(meta))


def _write_tokenizer(directory: Path, meta: CheckpointMeta) -> None:
    """A text checkpoint's tokenizer as its own tokenizer.json, beside the weights.

    `tokenizers` and transformers load it as is; serving reads the same JSON from raylight.json.
    """
    text = meta.parsed_preprocessing.text
    if text is not None:
        write_json_atomic(directory / TOKENIZER_FILE, text.to_dict()["tokenizer"])


def make_servable(directory: Path, weights_file: str, meta: CheckpointMeta) -> None:
    """Add `model.safetensors` (from the loop's own weights file) and the metadata, atomically.

    For checkpoints a user's loop wrote in its own layout (`train.loop.weights_file`).
    """
    from safetensors.torch import save_file

    source = directory / weights_file
    if not source.is_file():
        present = sorted(p.name for p in directory.iterdir())
        raise ValueError(f"no {weights_file} in it (train.loop.weights_file); it has {present}")
    state = plain_state_dict(read_weights(source))
    temporary = directory / f".{MODEL_FILE}.tmp"
    save_file(state, str(temporary))
    temporary.replace(directory / MODEL_FILE)
    _write_tokenizer(directory, meta)
    write_json_atomic(directory / META_FILE, asdict(meta))


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
    # A from_pretrained directory is read again to build the architecture; the weights are
    # then the checkpoint's.
    model = build_model(
        spec.model, preprocessing.model_inputs(), meta.pretrained, load_weights=False
    )
    weights = Path(directory) / MODEL_FILE
    try:
        load_weights(model, str(weights), device=device)
    except RuntimeError as error:  # names or shapes that model.builder's module does not have
        raise TargetError(_mismatch(weights, model, error)) from error
    model.eval()
    return model, meta


def _mismatch(weights: Path, model: torch.nn.Module, error: RuntimeError) -> str:
    """Which tensors of the file the module lacks and which of its own the file lacks."""
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as file:
        saved = set(file.keys())
    own = set(model.state_dict())
    missing, unexpected = sorted(own - saved), sorted(saved - own)

    def some(names: list[str]) -> str:
        return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")

    if not missing and not unexpected:  # same names, other shapes
        return f"{weights} does not fit model.builder's module: {str(error).strip()[:500]}"
    return (
        f"{weights} does not fit model.builder's module: missing from the file: "
        f"{some(missing) or 'none'}; in the file but not the module: {some(unexpected) or 'none'}. "
        "Build the module your loop trains in model.builder (same kwargs), and save its "
        "state_dict (DDP's module. and torch.compile's _orig_mod. prefixes are removed)."
    )
