"""Spec tests' helpers: a minimal valid spec, written to a file, and the problems it reports."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from raylight.errors import SpecError
from raylight.spec import load_spec

VALID = """\
spec_version: 1
name: tiny
data:
  source: {format: parquet, path: data.parquet}
  label: y
model:
  builder: pkg.model:build
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path, overrides or [])
    return [p.render() for p in caught.value.problems]
