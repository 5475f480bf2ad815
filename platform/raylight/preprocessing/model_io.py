"""How the loops and the predictor (served or offline) call a model: named inputs in, logits out.

A table-only model gets `features` as its one positional argument (the contract before images
and text, which existing builders keep). A model with an image or text input gets every input
as a keyword argument: `image`, `input_ids`, `attention_mask`, `features`, the names Hugging
Face models take.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

INPUT_NAMES = ("features", "image", "input_ids", "attention_mask")


def call_model(model: Any, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The model's logits (or values) for a batch of named inputs."""
    if set(inputs) == {"features"}:
        return logits_of(model(inputs["features"]))
    return logits_of(model(**inputs))


def model_inputs_of(batch: Mapping[str, Any]) -> dict[str, Any]:
    """The model's inputs of a batch that also holds the label."""
    return {name: batch[name] for name in INPUT_NAMES if name in batch}


def logits_of(output: Any) -> torch.Tensor:
    """A module's output tensor; Hugging Face models return it as `.logits` of a ModelOutput."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    logits = (
        output.get("logits") if isinstance(output, Mapping) else getattr(output, "logits", None)
    )
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"the model returned a {type(output).__name__}, not a tensor or .logits")
    return logits
