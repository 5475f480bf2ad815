"""Shared test helpers: paths, the digits spec, and free ports on 127.0.0.1."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIGITS_SPEC = ROOT / "pipelines" / "digits" / "experiment.yaml"
USER_LOOP_SPEC = ROOT / "pipelines" / "digits" / "ray_train_loop.yaml"
LIGHTNING_SPEC = ROOT / "pipelines" / "digits" / "lightning.yaml"
ACCELERATE_SPEC = ROOT / "pipelines" / "digits" / "accelerate.yaml"
HF_TRAINER_SPEC = ROOT / "pipelines" / "digits" / "hf_trainer.yaml"
LIGHTNING_DATAMODULE_SPEC = ROOT / "pipelines" / "digits" / "lightning_datamodule.yaml"
CTR_SPEC = ROOT / "pipelines" / "ctr" / "experiment.yaml"


# The tier is the folder: every test below tests/integration shares the session's Ray, and
# every test below tests/e2e runs the CLI as a subprocess (`-m "not e2e"` etc. select tiers).
TIER_MARKERS = {"integration": "ray", "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(item.path).relative_to(ROOT / "tests").parts[0]
        if tier in TIER_MARKERS:
            item.add_marker(TIER_MARKERS[tier])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def digits_spec() -> Path:
    return DIGITS_SPEC
