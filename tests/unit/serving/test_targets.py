"""What `raylight serve` resolves a checkpoint to, and which overrides it takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.conftest import write_checkpoint


def test_serving_a_checkpoint_takes_serve_overrides_only(tmp_path: Path) -> None:
    from raylight.errors import SpecError
    from raylight.serving.targets import resolve_target

    write_checkpoint(tmp_path)
    target = resolve_target(tmp_path, ["serve.port=9123"])
    assert target.serve_spec.port == 9123 and target.app_name == "tiny"
    with pytest.raises(SpecError, match=r"train.epochs: only serve.\* settings can change"):
        resolve_target(tmp_path, ["train.epochs=3"])
