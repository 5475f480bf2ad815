"""Model weights as files: a loop's own state_dict read safely, and a digest of a model's tensors.

Nothing is unpickled as arbitrary objects: safetensors, or torch.load(weights_only=True).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# Where a state_dict may sit inside a saved dict: {"model": sd}, {"state_dict": sd}, ...
STATE_DICT_KEYS = ("model_state_dict", "state_dict", "model")
# Wrappers whose prefixes end up in the keys of a state_dict saved without unwrapping.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


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


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 over a model's tensors (names, dtypes, shapes, values), independent of file layout."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        values = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{values.dtype}:{tuple(values.shape)}".encode())
        digest.update(values.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
