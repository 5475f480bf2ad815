"""The serve section's validation: routes Serve would refuse are spec errors, nested are fine."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylight.spec import load_spec
from tests.unit.spec.conftest import VALID, problems, write


@pytest.mark.parametrize("route", ["/api/", "api", "/a b"])
def test_routes_serve_would_refuse_are_spec_errors(tmp_path: Path, route: str) -> None:
    (message,) = problems(write(tmp_path, VALID + f"serve:\n  route: '{route}'\n"))
    assert message.startswith("serve.route: has the wrong form")


def test_nested_routes_are_fine(tmp_path: Path) -> None:
    loaded = load_spec(write(tmp_path, VALID + "serve:\n  route: /models/digits\n"))
    assert loaded.spec.serve.route == "/models/digits"
