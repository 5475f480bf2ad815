"""The `model` section: the builder of the module that is trained."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from raylight.spec.base import BUILDER_PATTERN, Section


class ModelSpec(Section):
    builder: str = Field(
        pattern=BUILDER_PATTERN,
        description="`module:function` returning a torch.nn.Module. If its signature has "
        "`num_features` / `num_outputs` / `categorical_cardinalities` (tables), "
        "`image_channels` / `image_size` (an image step), `vocab_size` / `max_length` / "
        "`pad_token_id` (a tokenize step), Raylight passes them from the data.",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments passed to the builder."
    )
    pretrained: str | None = Field(
        default=None,
        description="Local weights to start from, never a hub name: a Hugging Face model "
        "directory (save_pretrained's), passed to the builder as `pretrained` for its "
        "from_pretrained; or a .safetensors state dict, loaded where names and shapes match (a "
        "new head sized to the classes starts fresh). Relative: from the spec file.",
    )
    freeze: list[str] = Field(
        default_factory=list,
        description="Parameter name prefixes left untrained, e.g. [bert.embeddings].",
    )
