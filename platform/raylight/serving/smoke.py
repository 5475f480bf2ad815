"""One real request against a fresh endpoint, and the curl line that repeats it."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

import requests

from raylight.errors import RunError


def smoke_request(predict_url: str, record: Mapping[str, float], timeout_s: float = 30) -> Any:
    """POST one record; return the JSON answer, or raise if the endpoint is not healthy."""
    try:
        response = requests.post(predict_url, json=dict(record), timeout=timeout_s)
    except requests.RequestException as error:
        raise RunError(f"smoke request to {predict_url} failed: {error}") from None
    if response.status_code != 200:
        raise RunError(
            f"smoke request to {predict_url} answered HTTP {response.status_code}: "
            f"{response.text[:300]}"
        )
    return response.json()


def curl_command(predict_url: str, record: Mapping[str, float]) -> str:
    body = json.dumps(dict(record), separators=(",", ":"))
    return f"curl -X POST {predict_url} -H 'Content-Type: application/json' -d {shlex.quote(body)}"
