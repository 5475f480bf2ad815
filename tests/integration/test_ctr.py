"""The click-through pipeline: id columns encoded in Ray Data, an embedding model, served.

A 300k-row slice of the generated log (the shipped spec writes 5M) keeps this to a minute;
the code path is the same.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import requests
from ray import serve

from raylight.cluster import ClusterInfo
from raylight.runs.checkpoints import read_meta
from raylight.serving.deployment import deploy
from raylight.serving.predictor import Predictor
from raylight.serving.targets import resolve_target
from raylight.spec import LoadedSpec, load_spec
from raylight.training import TrainingResult, run_training
from tests.conftest import CTR_SPEC

ROWS = 300_000


@pytest.fixture(scope="module")
def ctr(
    ray_cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory, serve_port: int
) -> LoadedSpec:
    data_dir = tmp_path_factory.mktemp("ctr-data")
    return load_spec(
        CTR_SPEC,
        [
            f"data.source.kwargs.rows={ROWS}",
            f"data.source.kwargs.output_dir={data_dir}",
            f"run.storage_path={tmp_path_factory.mktemp('ctr-runs')}",
            f"serve.port={serve_port}",
            "train.epochs=2",
        ],
    )


@pytest.fixture(scope="module")
def trained_ctr(ctr: LoadedSpec) -> TrainingResult:
    return run_training(ctr)


@pytest.fixture(scope="module")
def log(ctr: LoadedSpec) -> pd.DataFrame:
    kwargs = ctr.spec.data.source.kwargs  # type: ignore[union-attr]
    return pd.read_parquet(Path(kwargs["output_dir"]) / f"ctr-{ROWS}")


def test_embedding_model_beats_the_base_rate(
    trained_ctr: TrainingResult, log: pd.DataFrame
) -> None:
    rate = log["clicked"].mean()
    base_rate_loss = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))
    # The log-loss of always predicting the click rate is what a model without signal gets.
    assert trained_ctr.metric_value < 0.975 * base_rate_loss, (trained_ctr.metric_value, rate)


def test_vocabularies_are_plain_json_ranked_by_training_frequency(
    trained_ctr: TrainingResult, log: pd.DataFrame
) -> None:
    meta = json.loads((trained_ctr.checkpoint_path / "raylight.json").read_text())
    (categorical,) = [s for s in meta["preprocessing"]["steps"] if s["kind"] == "categorical"]
    vocabularies = dict(zip(categorical["columns"], categorical["vocabularies"], strict=True))
    assert vocabularies["device"] == ["mobile", "desktop", "tablet"]  # 60/30/10 % of rows
    users = vocabularies["user_id"]
    assert all(isinstance(u, int) for u in users) and len(users) == len(set(users))
    counts = log["user_id"].value_counts()
    # min_frequency 2 on the training split: every kept id occurs at least twice in the log,
    # and ids seen once in the whole log cannot be in the vocabulary.
    assert counts[users].min() >= 2
    assert not set(counts[counts == 1].index) & set(users)
    assert 1_000 < len(users) < counts.size  # rare users were left to the unknown index
    assert meta["preprocessing"]["feature_columns"][:4] == [
        "user_id",
        "item_id",
        "category",
        "device",
    ]


def test_served_predictions_equal_offline_ones_and_unseen_ids_are_answered(
    ctr: LoadedSpec, trained_ctr: TrainingResult, log: pd.DataFrame
) -> None:
    features = read_meta(trained_ctr.checkpoint_path).parsed_preprocessing.feature_columns
    rows = log.sample(40, random_state=1)[list(features)]
    records = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
        for record in rows.to_dict("records")
    ]
    unseen = {**records[0], "user_id": 10**12, "item_id": "item_never_listed", "device": None}
    offline = Predictor(trained_ctr.checkpoint_path).predict([*records, unseen])

    target = resolve_target(ctr.path, ctr.overrides)
    assert target.checkpoint_path == trained_ctr.checkpoint_path
    served = deploy(target)
    try:
        response = requests.post(served.predict_url, json=[*records, unseen], timeout=30)
        assert response.status_code == 200, response.text
        answered = response.json()["predictions"]
        assert [p["label"] for p in answered] == [p["label"] for p in offline]  # type: ignore[index]
        for got, want in zip(answered, offline, strict=True):
            assert got["probability"] == pytest.approx(want["probability"], abs=1e-5)  # type: ignore[index]
        wrong_type = {**records[0], "user_id": "42"}  # an integer id column
        response = requests.post(served.predict_url, json=wrong_type, timeout=30)
        assert response.status_code == 422 and "user_id" in response.text
        document = requests.get(f"{served.url.rstrip('/')}/openapi.json", timeout=30).json()
        properties = document["components"]["schemas"]["CtrRecord"]["properties"]
        assert {"type": "integer"} in properties["user_id"]["anyOf"]
        assert properties["price"]["type"] == "number"
    finally:
        serve.delete(served.app_name)


def test_ray_data_batches_and_request_records_encode_ids_identically(
    trained_ctr: TrainingResult, log: pd.DataFrame
) -> None:
    """Training's path (Arrow -> numpy batch in map_batches) vs serving's (JSON records)."""
    import numpy as np
    import ray.data

    preprocessing = read_meta(trained_ctr.checkpoint_path).parsed_preprocessing
    rows = log.sample(200, random_state=2).reset_index(drop=True)
    rows["user_id"] = rows["user_id"].astype("Int64")
    rows.loc[:19, "user_id"] = pd.NA  # missing ids, as Arrow nulls
    rows.loc[10:29, "item_id"] = None
    rows.loc[30:39, "item_id"] = "item_never_listed"
    batch = (
        ray.data.from_pandas(rows)
        .map_batches(preprocessing.model_batch, batch_format="numpy")
        .take_batch(len(rows))
    )
    records = [
        {k: None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in rows[list(preprocessing.feature_columns)].to_dict("records")
    ]
    served = preprocessing.features_from_records(records)
    np.testing.assert_array_equal(batch["features"], served)
    assert (served[:20, 0] == 0).all() and (served[10:40, 1] == 0).all()  # the unknown index
    assert (served[40:, 1] > 0).mean() > 0.9  # listed items keep their own index
