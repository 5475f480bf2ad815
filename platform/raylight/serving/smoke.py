"""One real request against a fresh endpoint, and the curl line that repeats it."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from typing import Any

import requests

from raylight.errors import RunError


def auth_headers(token_env: str | None) -> dict[str, str]:
    """The bearer header for an endpoint whose token is in `token_env` (nothing when unset)."""
    token = os.environ.get(token_env) if token_env else None
    return {"Authorization": f"Bearer {token}"} if token else {}


def smoke_request(
    predict_url: str,
    record: Mapping[str, float],
    token_env: str | None = None,
    timeout_s: float = 30,
) -> Any:
    """POST one record; return the JSON answer, or raise if the endpoint is not healthy."""
    try:
        response = requests.post(
            predict_url, json=dict(record), headers=auth_headers(token_env), timeout=timeout_s
        )
    except requests.RequestException as error:
        raise RunError(f"smoke request to {predict_url} failed: {error}") from None
    if response.status_code != 200:
        raise RunError(
            f"smoke request to {predict_url} answered HTTP {response.status_code}: "
            f"{response.text[:300]}"
        )
    return response.json()


def curl_command(
    predict_url: str,
    record: Mapping[str, Any],
    token_env: str | None = None,
    image_field: str | None = None,
) -> str:
    """A curl line for the user; with auth it names the variable, never the token itself.

    An image model's line uploads a file (multipart), not the example's base64.
    """
    auth = f' -H "Authorization: Bearer ${token_env}"' if token_env else ""
    if image_field:
        fields = " ".join(
            f"-F {shlex.quote(f'{name}={value}')}"
            for name, value in record.items()
            if name != image_field
        )
        return f"curl{auth} -F {image_field}=@your-image.png {fields} {predict_url}".replace(
            "  ", " "
        )
    body = json.dumps(dict(record), separators=(",", ":"))
    return (
        f"curl -X POST {predict_url} -H 'Content-Type: application/json'{auth} "
        f"-d {shlex.quote(body)}"
    )
