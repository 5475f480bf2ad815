"""Start a model from local weights: a `from_pretrained` directory or a safetensors state dict.

`model.pretrained` is never a hub name. A directory (what `save_pretrained` wrote) is passed to
the model builder as `pretrained`, for its own `from_pretrained`. A `.safetensors` file is
loaded into the built model where names and shapes match, so a new head sized to this data's
classes keeps its fresh weights. Either way the weights' sha256 goes into every checkpoint's
lineage and the endpoint's /metadata. `model.freeze` prefixes are then excluded from training.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylight.components import call_model_builder
from raylight.errors import ComponentError
from raylight.spec.model import ModelSpec

if TYPE_CHECKING:
    from torch import nn

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def describe_pretrained(model: ModelSpec, base_dir: Path) -> dict[str, Any] | None:
    """{path (absolute), sha256 of the weight files} for `model.pretrained`, or None."""
    if model.pretrained is None:
        return None
    path = Path(model.pretrained).expanduser()
    path = path if path.is_absolute() else (base_dir / path).resolve()
    files = (
        sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
        if path.is_dir()
        else [path]
    )
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return {"path": str(path), "sha256": f"sha256:{digest.hexdigest()}"}


def build_model(
    model: ModelSpec,
    data_inputs: Mapping[str, Any],
    pretrained: Mapping[str, Any] | None,
    *,
    load_weights: bool = True,
) -> nn.Module:
    """The user's model with the data's shape, started from `pretrained`, frozen as asked.

    `load_weights=False` (serving) skips a safetensors start: the checkpoint's weights follow.
    """
    supplied = dict(data_inputs)
    path = Path(pretrained["path"]) if pretrained else None
    if path is not None and path.is_dir():
        supplied["pretrained"] = str(path)
    built = call_model_builder(model.builder, model.kwargs, supplied)
    if path is not None and path.is_file() and load_weights:
        load_matching(built, path)
    freeze(built, model.freeze)
    return built


def load_matching(model: nn.Module, path: Path) -> None:
    """Copy the file's tensors into parameters of the same name and shape; the rest stay new."""
    from safetensors.torch import load_file

    weights = load_file(str(path))
    state = model.state_dict()
    matched = {k: v for k, v in weights.items() if k in state and state[k].shape == v.shape}
    if not matched:
        raise ComponentError(
            f"model.pretrained: no tensor in {path.name} matches the model's parameter names "
            f"and shapes (it has e.g. {sorted(weights)[:3]}; the model {sorted(state)[:3]})."
        )
    model.load_state_dict(matched, strict=False)


def freeze(model: nn.Module, prefixes: list[str]) -> None:
    """requires_grad=False for parameters under `prefixes`; a prefix matching none is an error."""
    names = [name for name, _ in model.named_parameters()]
    for prefix in prefixes:
        hits = [name for name in names if name == prefix or name.startswith(f"{prefix}.")]
        if not hits:
            raise ComponentError(
                f"model.freeze: no parameter is under {prefix!r} (the model has e.g. "
                f"{', '.join(names[:4])})."
            )
    for name, parameter in model.named_parameters():
        if any(name == p or name.startswith(f"{p}.") for p in prefixes):
            parameter.requires_grad_(False)
