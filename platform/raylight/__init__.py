"""Raylight: one experiment spec drives data -> train -> tune -> serve on Ray.

Importing this package is cheap: it pulls in the spec layer only (pydantic, yaml). The layer
entry points (`run_training`, `run_tuning`, `run_serving`, `submit_job`) import Ray and torch on
first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from raylight.errors import RaylightError, SpecError
from raylight.spec import LoadedSpec, Spec, load_spec

__version__ = "0.1.0"

_LAZY = {
    "run_training": "raylight.training",
    "run_tuning": "raylight.tuning",
    "run_serving": "raylight.serving",
    "submit_job": "raylight.jobs",
}

__all__ = ["LoadedSpec", "RaylightError", "Spec", "SpecError", "load_spec", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raylight' has no attribute {name!r}")
