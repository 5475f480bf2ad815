"""The base every spec section derives from, and the patterns that sections share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

BUILDER_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


class Section(BaseModel):
    """Base of every spec section: unknown keys are errors, values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)
