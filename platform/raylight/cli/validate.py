"""`raylight validate SPEC [overrides] [--explain]` and `raylight schema`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml

from raylight.cli.common import OVERRIDES, SPEC
from raylight.cli.output import console
from raylight.components import load_checked


def validate(
    spec: Path = SPEC,
    overrides: list[str] = OVERRIDES,
    explain: bool = typer.Option(False, "--explain", help="Print the resolved spec with defaults."),
) -> None:
    """Check a spec: every problem at once, with file, field, value and fix (exit 2 if any)."""
    loaded = load_checked(spec, overrides)
    if explain:
        console.print(
            yaml.safe_dump(loaded.spec.model_dump(mode="json"), sort_keys=False), markup=False
        )
    console.print(f"[green]ok[/]: {spec} is valid (spec hash {loaded.spec_hash}).")


def schema() -> None:
    """Print the spec's JSON Schema (every field with its default and description)."""
    from raylight.spec import Spec

    console.print(json.dumps(Spec.model_json_schema(), indent=2), markup=False, soft_wrap=True)
