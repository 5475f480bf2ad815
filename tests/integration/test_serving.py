"""The digits checkpoint on real Ray Serve, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import ray.data
import requests
import torch
from ray import serve

from pipelines.digits.data import write_digits_parquet
from raylight.serving.deployment import ServingEndpoint, deploy
from raylight.serving.targets import resolve_target
from raylight.spec import LoadedSpec
from raylight.training import TrainingResult
from raylight.training.checkpoints import load_model

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def endpoint(digits: LoadedSpec, trained_digits: TrainingResult) -> Iterator[ServingEndpoint]:
    target = resolve_target(digits.path, digits.overrides)
    assert target.checkpoint_path == trained_digits.checkpoint_path
    served = deploy(target)
    yield served
    serve.delete(served.app_name)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    frame = pd.read_parquet(write_digits_parquet())
    return frame.sample(n=24, random_state=7)


def offline_predictions(checkpoint: str, rows: pd.DataFrame) -> tuple[list[int], np.ndarray]:
    """The training-side path: Ray Data map_batches with the fitted preprocessing, then model."""
    model, meta = load_model(checkpoint)
    preprocessing = meta.parsed_preprocessing
    batch = (
        ray.data.from_pandas(rows)
        .map_batches(preprocessing.model_batch, batch_format="numpy")
        .take_batch(batch_size=len(rows))
    )
    with torch.inference_mode():
        probabilities = torch.softmax(model(torch.from_numpy(batch["features"])), dim=1)
    best = probabilities.max(dim=1)
    return preprocessing.decode(best.indices.tolist()), best.values.numpy()


def test_predictions_match_the_model_run_offline(
    endpoint: ServingEndpoint, rows: pd.DataFrame
) -> None:
    records = rows.drop(columns="digit").to_dict(orient="records")
    response = requests.post(endpoint.predict_url, json=records, timeout=30)
    assert response.status_code == 200, response.text
    served = response.json()["predictions"]
    labels, probabilities = offline_predictions(str(endpoint.checkpoint_path), rows)
    assert [p["label"] for p in served] == labels
    np.testing.assert_allclose([p["probability"] for p in served], probabilities, atol=1e-5)
    # and the model is right about most of them (sanity check that labels mean digits)
    assert np.mean(np.array(labels) == rows["digit"].to_numpy()) >= 0.8


def test_single_record_body(endpoint: ServingEndpoint, rows: pd.DataFrame) -> None:
    record = rows.drop(columns="digit").iloc[0].to_dict()
    response = requests.post(endpoint.predict_url, json=record, timeout=30)
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 1


def test_health_and_metadata(
    endpoint: ServingEndpoint, digits: LoadedSpec, trained_digits: TrainingResult
) -> None:
    base = endpoint.url.rstrip("/")
    assert requests.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
    metadata = requests.get(f"{base}/metadata", timeout=10).json()
    assert metadata["model_name"] == "digits"
    assert metadata["checkpoint_path"] == str(trained_digits.checkpoint_path)
    assert metadata["run_path"] == str(trained_digits.run_path)
    assert metadata["spec_hash"] == digits.spec_hash
    assert metadata["metric"] == "val_accuracy"
    assert metadata["metrics"]["val_accuracy"] == pytest.approx(trained_digits.metric_value)


GOOD = {f"pixel_{i}": 0.0 for i in range(64)}


def without(key: str) -> dict[str, float]:
    return {k: v for k, v in GOOD.items() if k != key}


VALIDATION, NOT_JSON = 422, 400
MALFORMED = {
    "missing feature": (json.dumps(without("pixel_7")), "application/json", VALIDATION),
    "wrong type": (json.dumps({**GOOD, "pixel_7": "dark"}), "application/json", VALIDATION),
    "number as string": (json.dumps({**GOOD, "pixel_7": "1.5"}), "application/json", VALIDATION),
    "boolean": (json.dumps({**GOOD, "pixel_7": True}), "application/json", VALIDATION),
    "extra field": (json.dumps({**GOOD, "pixel_64": 1.0}), "application/json", VALIDATION),
    "NaN": (
        json.dumps(GOOD).replace('"pixel_7": 0.0', '"pixel_7": NaN'),
        "application/json",
        VALIDATION,
    ),
    "Infinity": (
        json.dumps(GOOD).replace('"pixel_7": 0.0', '"pixel_7": Infinity'),
        "application/json",
        VALIDATION,
    ),
    "beyond float32": (json.dumps({**GOOD, "pixel_7": 1e308}), "application/json", VALIDATION),
    "not JSON": ("pixel_7=1", "application/json", NOT_JSON),
    "empty list": ("[]", "application/json", VALIDATION),
    "empty body": ("", "application/json", VALIDATION),
    "a bare number": ("3", "application/json", VALIDATION),
    "list of numbers": ("[1, 2, 3]", "application/json", VALIDATION),
    "too many records": (json.dumps([GOOD] * 1025), "application/json", VALIDATION),
    "deeply nested": ("[" * 3000 + "]" * 3000, "application/json", NOT_JSON),
    "wrong content type": (json.dumps(GOOD), "text/plain", VALIDATION),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_bodies_get_a_4xx_json_error(endpoint: ServingEndpoint, case: str) -> None:
    body, content_type, expected = MALFORMED[case]
    response = requests.post(
        endpoint.predict_url, data=body, headers={"Content-Type": content_type}, timeout=30
    )
    assert response.status_code == expected, (response.status_code, response.text[:300])
    assert "error" in response.json()


def test_the_endpoint_still_answers_after_bad_requests(
    endpoint: ServingEndpoint, rows: pd.DataFrame
) -> None:
    record = rows.drop(columns="digit").iloc[1].to_dict()
    assert requests.post(endpoint.predict_url, json=[record] * 3, timeout=30).status_code == 200
