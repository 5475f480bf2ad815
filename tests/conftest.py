"""Shared test helpers: paths, the digits spec, free ports on 127.0.0.1, tiers, time per file."""

from __future__ import annotations

import random
import socket
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIGITS_SPEC = ROOT / "pipelines" / "digits" / "experiment.yaml"
USER_LOOP_SPEC = ROOT / "pipelines" / "digits" / "ray_train_loop.yaml"
LIGHTNING_SPEC = ROOT / "pipelines" / "digits" / "lightning.yaml"
ACCELERATE_SPEC = ROOT / "pipelines" / "digits" / "accelerate.yaml"
HF_TRAINER_SPEC = ROOT / "pipelines" / "digits" / "hf_trainer.yaml"
LIGHTNING_DATAMODULE_SPEC = ROOT / "pipelines" / "digits" / "lightning_datamodule.yaml"
CTR_SPEC = ROOT / "pipelines" / "ctr" / "experiment.yaml"
IMAGES_SPEC = ROOT / "pipelines" / "digits_images" / "experiment.yaml"
IMAGES_LIGHTNING_SPEC = ROOT / "pipelines" / "digits_images" / "lightning.yaml"
REVIEWS_SPEC = ROOT / "pipelines" / "reviews" / "experiment.yaml"
REVIEWS_HF_SPEC = ROOT / "pipelines" / "reviews" / "hf_trainer.yaml"
REVIEWS_FINETUNE_SPEC = ROOT / "pipelines" / "reviews" / "finetune.yaml"


# The tier is the folder: every test below tests/integration shares the session's Ray, and
# every test below tests/e2e runs the CLI as a subprocess (`-m "not e2e"` etc. select tiers).
TIER_MARKERS = {"integration": "ray", "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    starts_ray = False
    for item in items:
        tier = Path(item.path).relative_to(ROOT / "tests").parts[0]
        if tier in TIER_MARKERS:
            item.add_marker(TIER_MARKERS[tier])
            starts_ray = True
    if starts_ray:
        check_fixed_ports()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Seconds per test file (setup, call and teardown), for the suite's time budget."""
    seconds: dict[str, float] = defaultdict(float)
    for reports in terminalreporter.stats.values():
        for report in reports:
            if hasattr(report, "duration") and hasattr(report, "nodeid") and report.nodeid:
                seconds[report.nodeid.split("::")[0]] += report.duration
    if not seconds:
        return
    terminalreporter.section("seconds per test file")
    for path, total in sorted(seconds.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{total:8.1f}  {path}")
    terminalreporter.write_line(f"{sum(seconds.values()):8.1f}  all files")


# Ports the tests hand out: below the kernel's ephemeral range (32768-60999 here, where the OS
# puts every port it picks itself, Ray's gRPC servers included), above Ray's worker ports
# (10002-19999) and the local cluster's block (24000-24299). Nothing binds in this band unless
# told to, so a port found free here stays free until the test that drew it binds it.
TEST_PORTS = range(30000, 32768)
# Fixed ports an embedded Ray (and Serve's HAProxy ingress) binds without being asked.
FIXED_PORTS = {
    8265: "the Ray dashboard (Jobs API)",
    52365: "the Ray dashboard agent",
    10001: "the Ray client server",
    8404: "HAProxy's stats page (Serve's HAProxy ingress)",
    9101: "HAProxy's metrics (Serve's HAProxy ingress)",
}
_handed_out: set[int] = set()


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that nothing holds and no other test of this session was given."""
    start = random.randrange(len(TEST_PORTS))
    for offset in range(len(TEST_PORTS)):
        port = TEST_PORTS[(start + offset) % len(TEST_PORTS)]
        if port not in _handed_out and _is_free(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port in {TEST_PORTS}")


def check_fixed_ports() -> None:
    """Ray and Serve bind these fixed ports themselves: say which is taken, before any test."""
    busy = [f"{port} ({what})" for port, what in FIXED_PORTS.items() if not _is_free(port)]
    if busy:
        pytest.exit(
            f"ports the tests' Ray needs are in use: {', '.join(busy)}. Stop the Ray (or other "
            "program) holding them, e.g. `ray stop`, and run the tests again.",
            returncode=3,
        )


@pytest.fixture
def digits_spec() -> Path:
    return DIGITS_SPEC
