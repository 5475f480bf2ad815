"""Dotted-path overrides (`train.optimizer.lr=3e-4`): one path for CLI arguments and Tune."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import yaml

from raylight.errors import Problem
from raylight.spec.yaml_numbers import load_yaml


def parse_override(text: str) -> tuple[str, Any] | Problem:
    """Split `a.b.c=value` and parse the value as YAML (numbers, booleans, lists, null).

    Parsed exactly like a value in the spec file: `1e-3` is a number, `"1e3"` a string.
    """
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path or any(not part for part in path.split(".")):
        return Problem(
            path=text,
            message="an override must look like dotted.path=value (e.g. train.epochs=5).",
        )
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
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
