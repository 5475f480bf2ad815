"""The digits checkpoint on real Ray Serve, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import ray
import ray.data
import requests
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ray import serve

from pipelines.digits.data import write_digits_parquet
from raylight.preprocessing.sources import files_fingerprint
from raylight.runs.checkpoints import load_model
from raylight.serving.deployment import ServingEndpoint, deploy
from raylight.serving.targets import resolve_target
from raylight.spec import LoadedSpec
from raylight.training import TrainingResult
from tests.conftest import ROOT


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
    assert requests.get(f"{base}/healthz", timeout=10).json() == {"status": "ok", "device": "cpu"}
    metadata = requests.get(f"{base}/metadata", timeout=10).json()
    assert metadata["model_name"] == "digits"
    assert metadata["checkpoint_path"] == str(trained_digits.checkpoint_path)
    assert metadata["run_path"] == str(trained_digits.run_path)
    assert metadata["spec_hash"] == digits.spec_hash
    assert metadata["metric"] == "val_accuracy"
    assert metadata["metrics"]["val_accuracy"] == pytest.approx(trained_digits.metric_value)
    assert metadata["metric_value"] == pytest.approx(trained_digits.metric_value)
    # lineage: the data it learned from, the code and the versions it was trained with
    assert metadata["data_fingerprint"] == files_fingerprint(Path(write_digits_parquet()))
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert metadata["git_commit"].removesuffix("+dirty") == commit
    assert metadata["packages"]["ray"].startswith("2.60")
    assert metadata["packages"]["torch"] == torch.__version__
    assert metadata["serving_packages"]["raylight"] == metadata["raylight_version"]


def test_haproxy_admin_listeners_stay_on_loopback(endpoint: ServingEndpoint) -> None:
    """Ray's template binds stats (8404) and metrics (9101) to every interface; ours do not."""
    if os.environ.get("RAY_SERVE_ENABLE_HA_PROXY") != "1":
        pytest.skip("the session's Serve uses the default proxy")
    node_ip = ray.util.get_node_ip_address()
    if node_ip.startswith("127."):
        pytest.skip("this machine has no address but loopback")
    for port in (8404, 9101):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        with pytest.raises(OSError):
            socket.create_connection((node_ip, port), timeout=5).close()


def test_openapi_document_lists_the_real_features(endpoint: ServingEndpoint) -> None:
    base = endpoint.url.rstrip("/")
    document = requests.get(f"{base}/openapi.json", timeout=10).json()
    record = document["components"]["schemas"]["DigitsRecord"]
    assert sorted(record["properties"]) == sorted(GOOD)
    assert set(record["required"]) == set(GOOD)
    assert record["additionalProperties"] is False
    predict = document["paths"]["/predict"]["post"]
    assert {"200", "413", "422", "503"} <= set(predict["responses"])
    assert requests.get(f"{base}/docs", timeout=10).status_code == 200


def test_concurrent_requests_are_answered_in_batches(
    endpoint: ServingEndpoint, rows: pd.DataFrame
) -> None:
    """Requests that arrive while the model runs are answered together by one model call."""
    base = endpoint.url.rstrip("/")
    before = requests.get(f"{base}/stats", timeout=10).json()
    records = rows.drop(columns="digit").to_dict(orient="records")
    labels, _ = offline_predictions(str(endpoint.checkpoint_path), rows)
    start = threading.Barrier(len(records))

    def ask(index: int) -> Any:
        start.wait()
        response = requests.post(endpoint.predict_url, json=records[index], timeout=30)
        return response.status_code, response.json()["predictions"][0]["label"]

    with ThreadPoolExecutor(len(records)) as pool:
        answers = list(pool.map(ask, range(len(records))))
    assert answers == [(200, label) for label in labels]
    after = requests.get(f"{base}/stats", timeout=10).json()
    assert after["replica"] == before["replica"]
    calls = after["model_calls"] - before["model_calls"]
    assert after["requests"] - before["requests"] == len(records)
    assert calls < len(records) and after["batched_calls"] > before["batched_calls"], after
    assert after["largest_batch"] > 1


GOOD = {f"pixel_{i}": 0.0 for i in range(64)}


def without(key: str) -> dict[str, float]:
    return {k: v for k, v in GOOD.items() if k != key}


VALIDATION, NOT_JSON, TOO_LARGE = 422, 400, 413
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
    "body over max_body_bytes": (json.dumps([GOOD] * 4000), "application/json", TOO_LARGE),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_bodies_get_a_4xx_json_error(endpoint: ServingEndpoint, case: str) -> None:
    body, content_type, expected = MALFORMED[case]
    response = requests.post(
        endpoint.predict_url, data=body, headers={"Content-Type": content_type}, timeout=30
    )
    assert response.status_code == expected, (response.status_code, response.text[:300])
    assert "error" in response.json()


def test_chunked_body_over_the_limit_gets_413(endpoint: ServingEndpoint) -> None:
    """No Content-Length to check up front: the body is counted as it streams in."""
    chunk = json.dumps([GOOD] * 500).encode()
    response = requests.post(
        endpoint.predict_url,
        data=iter([chunk] * 12),  # ~5 MB as a generator: sent chunked, no Content-Length
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413, response.text[:300]
    assert "max_body_bytes" in response.json()["error"]


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from([*GOOD, "x", ""]), children, max_size=6)
    ),
    max_leaves=40,
)
# Records that are nearly valid: every feature present, some replaced by arbitrary JSON.
NEAR_RECORDS = st.dictionaries(st.sampled_from(list(GOOD)), JSON_VALUES, max_size=3).map(
    lambda changes: {**GOOD, **changes}
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=JSON_VALUES | NEAR_RECORDS | st.lists(NEAR_RECORDS, max_size=3))
def test_fuzzed_bodies_never_get_a_server_error(endpoint: ServingEndpoint, body: Any) -> None:
    """Schema-driven fuzzing: anything JSON gets 200 or a 4xx with a JSON error, never a 5xx."""
    response = requests.post(endpoint.predict_url, json=body, timeout=30)
    assert response.status_code < 500, (body, response.status_code, response.text[:300])
    if response.status_code == 200:
        records = body if isinstance(body, list) else [body]
        assert len(response.json()["predictions"]) == len(records)
    else:
        assert 400 <= response.status_code < 500 and "error" in response.json()


def test_the_endpoint_still_answers_after_bad_requests(
    endpoint: ServingEndpoint, rows: pd.DataFrame
) -> None:
    record = rows.drop(columns="digit").iloc[1].to_dict()
    assert requests.post(endpoint.predict_url, json=[record] * 3, timeout=30).status_code == 200
