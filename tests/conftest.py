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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def digits_spec() -> Path:
    return DIGITS_SPEC
