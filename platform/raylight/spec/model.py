"""The `model` section: the builder of the module that is trained."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from raylight.spec.base import BUILDER_PATTERN, Section


class ModelSpec(Section):
    builder: str = Field(
        pattern=BUILDER_PATTERN,
        description="`module:function` returning a torch.nn.Module. If its signature has "
        "`num_features` / `num_outputs` / `categorical_cardinalities`, Raylight passes them "
        "from the data.",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments passed to the builder."
    )
