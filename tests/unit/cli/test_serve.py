"""`raylight serve`'s arguments: targets are told apart from overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylight.cli.serve import split_targets
from raylight.errors import TargetError


def test_overrides_alone_are_not_a_target(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no target"):
        split_targets(["serve.port=9001"])
    odd = tmp_path / "run=3"
    odd.mkdir()
    assert split_targets([str(odd), "serve.port=9001"]) == ([str(odd)], ["serve.port=9001"])
