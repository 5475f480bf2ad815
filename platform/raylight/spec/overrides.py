"""Dotted-path overrides (`train.optimizer.lr=3e-4`): one path for CLI arguments and Tune."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from typing import Any

import yaml

from raylight.errors import Problem


def parse_override(text: str) -> tuple[str, Any] | Problem:
    """Split `a.b.c=value` and parse the value as YAML (numbers, booleans, lists, null).

    YAML reads `1e-3` as a string; numbers in exponent form are turned into floats here so that
    `train.optimizer.lr=1e-3` means what a user expects.
    """
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path or any(not part for part in path.split(".")):
        return Problem(
            path=text,
            message="an override must look like dotted.path=value (e.g. train.epochs=5).",
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and any(c.isdigit() for c in value):
        with contextlib.suppress(ValueError):
            value = float(value)
    return path, value


def set_dotted(tree: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at `path` in a nested dict, creating sections that do not exist yet.

    Unknown sections are created on purpose: validation then reports them as unknown fields with
    a did-you-mean suggestion, exactly like a typo in the YAML file.
    """
    node = tree
    parts = path.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def apply_overrides(tree: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Return a deep copy of a raw spec tree with every `dotted.path -> value` applied."""
    updated = copy.deepcopy(dict(tree))
    for path, value in overrides.items():
        set_dotted(updated, path, value)
    return updated
