"""A Ray Jobs API client with the cluster's token attached, and errors that say what went wrong.

Ray 2.60 clients attach the token only when RAY_AUTH_MODE=token is set; Raylight always sends it
when one is available (`raylight.cluster.find_token`: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or
~/.ray/auth_token). The token is never printed or logged: error messages name where it came
from, not what it is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from ray.exceptions import AuthenticationError
from ray.job_submission import JobSubmissionClient

from raylight.cluster import Token, find_token
from raylight.errors import JobError

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
ADDRESS_ENV = "RAY_API_SERVER_ADDRESS"
AGENT_WAIT_S = 60
T = TypeVar("T")


def resolve_address(address: str | None) -> str:
    chosen = address or os.environ.get(ADDRESS_ENV) or DEFAULT_ADDRESS
    if not chosen.startswith(("http://", "https://")):
        raise JobError(
            f"--address {chosen!r}: the Jobs API needs the dashboard URL, e.g. {DEFAULT_ADDRESS}."
        )
    return chosen.rstrip("/")


def make_client(address: str | None) -> JobSubmissionClient:
    """Connect to the dashboard at `address` (or RAY_API_SERVER_ADDRESS, or localhost:8265)."""
    url = resolve_address(address)
    token = find_token()
    headers = {"Authorization": f"Bearer {token.value}"} if token else {}
    return call(url, token, lambda: JobSubmissionClient(url, headers=headers))


def call(url: str, token: Token | None, action: Callable[[], T]) -> T:
    """Run one Jobs API call, turning Ray's and requests' errors into one-line JobErrors.

    A head node that has just started answers "No available agent" until its job agent is up;
    that one answer is retried for up to AGENT_WAIT_S instead of failing the command.
    """
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            return _call_once(url, token, action)
        except JobError as error:
            if "No available agent" not in error.message or time.monotonic() > deadline:
                raise
            time.sleep(1)


def _call_once(url: str, token: Token | None, action: Callable[[], T]) -> T:
    try:
        return action()
    except AuthenticationError:
        where = f"the token from {token.source}" if token else "no token (none found)"
        raise JobError(
            f"the Ray cluster at {url} refused the request: sent {where}. Set RAY_AUTH_TOKEN to "
            "the cluster's token (`ray get-auth-token` on the head node prints it)."
        ) from None
    except (ConnectionError, requests.ConnectionError):
        raise JobError(
            f"cannot reach the Ray dashboard at {url}: is the cluster up, and is that its "
            "dashboard address (port 8265 by default)?"
        ) from None
    except RuntimeError as error:
        raise JobError(f"the Ray Jobs API at {url} failed: {str(error)[:300]}") from None
