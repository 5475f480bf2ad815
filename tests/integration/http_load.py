"""Steady HTTP load on 127.0.0.1 from a few client threads, for the serving robustness tests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import requests


class Load:
    """Client threads posting `body` in a loop; a failed request is retried once (as a client
    behind a load balancer would), and both the first answers and the final outcomes are kept.
    """

    def __init__(self, url: str, body: Any, clients: int, headers: dict[str, str] | None = None):
        self.url, self.body, self.headers = url, body, headers or {}
        self.first = Counter[str]()  # status of each request's first try ("error" = no answer)
        self.final = Counter[str]()  # status after the one retry
        self.refusal_headers: Mapping[str, str] = {}  # of a 429/503 answer (Retry-After)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    @property
    def total(self) -> int:
        return sum(self.final.values())

    def succeeded(self) -> float:
        return self.final["200"] / max(self.total, 1)

    def _post(self, session: requests.Session) -> str:
        try:
            response = session.post(self.url, json=self.body, headers=self.headers, timeout=30)
        except requests.RequestException:
            return "error"
        if response.status_code in (429, 503):
            self.refusal_headers = response.headers
        return str(response.status_code)

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            first = self._post(session)
            final = first
            if first != "200":
                time.sleep(0.2)
                final = self._post(session)
            with self._lock:
                self.first[first] += 1
                self.final[final] += 1


def wait_until(condition: Any, timeout_s: float, what: str, interval_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
