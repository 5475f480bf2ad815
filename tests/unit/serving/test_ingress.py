"""Which ingress serves the endpoint: Serve's proxy or HAProxy, and the fallback without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylight.errors import ClusterError
from raylight.serving.ingress import HAPROXY_BINARY, HAPROXY_SWITCH, choose_ingress


def test_ingress_choice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(HAPROXY_SWITCH, raising=False)
    assert choose_ingress("proxy").kind == "proxy"
    binary = tmp_path / "haproxy"
    binary.write_text("")
    monkeypatch.setenv(HAPROXY_BINARY, str(binary))
    assert choose_ingress("auto").kind == "haproxy"
    assert choose_ingress("haproxy").reason == str(binary)


def test_haproxy_without_a_binary_is_a_clear_error_and_auto_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import raylight.serving.ingress as ingress

    monkeypatch.delenv(HAPROXY_SWITCH, raising=False)
    monkeypatch.setattr(ingress, "haproxy_binary", lambda: None)
    with pytest.raises(ClusterError, match=r"no haproxy binary"):
        choose_ingress("haproxy")
    fallback = choose_ingress("auto")
    assert fallback.kind == "proxy" and "no haproxy binary" in fallback.describe()
