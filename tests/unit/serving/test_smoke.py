"""The curl line printed for an endpoint: a runnable request that never holds the token."""

from __future__ import annotations

import json
import shlex

import pytest

from raylight.serving.smoke import auth_headers, curl_command


def test_the_curl_line_names_the_token_variable_never_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_TOKEN", "s3cret-value")
    line = curl_command("http://127.0.0.1:8000/predict", {"x": 1.5}, "MY_TOKEN")
    assert "s3cret-value" not in line
    words = shlex.split(line)  # what the shell passes to curl, before it expands $MY_TOKEN
    assert words[words.index("-H", words.index("-H") + 1) + 1] == "Authorization: Bearer $MY_TOKEN"
    assert json.loads(words[-1]) == {"x": 1.5}
    assert auth_headers("MY_TOKEN") == {"Authorization": "Bearer s3cret-value"}


def test_without_auth_the_curl_line_has_no_authorization_header() -> None:
    line = curl_command("http://127.0.0.1:8000/predict", {"x": 1.0})
    assert "Authorization" not in line and auth_headers(None) == {}
