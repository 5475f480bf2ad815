"""The app's token lookup: a public host without a token is refused."""

from __future__ import annotations

import pytest

from raylight.errors import TargetError
from raylight.serving.app import read_token
from raylight.spec.schema import ServeSpec


def test_public_host_without_a_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAYLIGHT_SERVE_TOKEN", raising=False)
    with pytest.raises(TargetError, match="RAYLIGHT_SERVE_TOKEN"):
        read_token(ServeSpec(host="0.0.0.0"))
    assert read_token(ServeSpec(host="0.0.0.0", allow_public=True)) is None
    assert read_token(ServeSpec()) is None  # 127.0.0.1: fine without one
    monkeypatch.setenv("MY_TOKEN", "abc")
    assert read_token(ServeSpec(host="0.0.0.0", auth_token_env="MY_TOKEN")) == "abc"
