"""Text from a JSON Lines column to the endpoint: accuracy against the baselines, token parity,
served strings, bad text, the HF Trainer, and fine-tuning from a save_pretrained directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import ray.data
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ray import serve
from safetensors.torch import load_file

from pipelines.reviews.baselines import baselines
from pipelines.reviews.data import write_reviews
from pipelines.reviews.save_pretrained import save_pretrained
from raylight.runs.checkpoints import MODEL_FILE, read_meta
from raylight.runs.pretrained import describe_pretrained
from raylight.serving.deployment import ServingEndpoint, deploy
from raylight.serving.predictor import Predictor
from raylight.serving.targets import resolve_target
from raylight.spec import LoadedSpec, load_spec
from raylight.training import TrainingResult, run_training
from tests.conftest import REVIEWS_FINETUNE_SPEC

BAR = 0.85  # the pipeline's bar (README)
TEXTS = [
    "the battery was not great.",
    "the screen is very bright. delivery took 3 days.",
    "i bought this lamp 4 weeks ago.",
    "the zipper felt hardly flimsy. the lens was poor.",
    "THE KEYBOARD WAS SUPERB!!",
    "words the tokenizer never saw: zyzzyva quokka",
]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_json(write_reviews(), lines=True).sample(n=12, random_state=3)


@pytest.fixture(scope="module")
def endpoint(reviews: LoadedSpec, trained_reviews: TrainingResult) -> Iterator[ServingEndpoint]:
    target = resolve_target(reviews.path, reviews.overrides)
    assert target.checkpoint_path == trained_reviews.checkpoint_path
    served = deploy(target)
    yield served
    serve.delete(served.app_name)


def test_managed_loop_on_text_beats_the_bar_the_majority_and_a_bag_of_words(
    reviews: LoadedSpec, trained_reviews: TrainingResult
) -> None:
    accuracy = trained_reviews.metrics["val_accuracy"]
    reference = baselines(str(reviews.path), reviews.overrides)  # the same split as training
    assert reference["val_rows"] == trained_reviews.metrics["val_rows"]
    assert accuracy >= BAR
    assert accuracy > reference["majority_class"] + 0.3
    assert accuracy > reference["bag_of_words"] + 0.1


def test_ray_data_and_request_paths_make_identical_tokens(
    trained_reviews: TrainingResult, frame: pd.DataFrame
) -> None:
    predictor = Predictor(trained_reviews.checkpoint_path)
    preprocessing = predictor.preprocessing
    batch = (
        ray.data.from_pandas(frame)
        .map_batches(preprocessing.model_batch, batch_format="numpy")
        .take_batch(len(frame))
    )
    requested = predictor.encode([{"text": t} for t in frame["text"]])
    for name in ("input_ids", "attention_mask"):
        assert batch[name].dtype == np.int64 and batch[name].shape == (len(frame), 64)
        np.testing.assert_array_equal(batch[name], requested[name])
    # the checkpoint's own tokenizer.json: `tokenizers` loads it and gives the same ids
    from tokenizers import Tokenizer

    saved = Tokenizer.from_file(str(trained_reviews.checkpoint_path / "tokenizer.json"))
    ids = [e.ids for e in saved.encode_batch(list(frame["text"]))]
    np.testing.assert_array_equal(np.array(ids), batch["input_ids"])


def test_served_predictions_equal_the_offline_predictor(
    endpoint: ServingEndpoint, frame: pd.DataFrame
) -> None:
    texts = [*TEXTS, *frame["text"]]
    response = requests.post(endpoint.predict_url, json=[{"text": t} for t in texts], timeout=30)
    assert response.status_code == 200, response.text
    served = response.json()["predictions"]
    expected = Predictor(endpoint.checkpoint_path).predict([{"text": t} for t in texts])
    assert [p["label"] for p in served] == [e["label"] for e in expected if e]
    for got, want in zip(served, expected, strict=True):
        assert want is not None and abs(got["probability"] - want["probability"]) <= 1e-5
    right = [
        p["label"] == label for p, label in zip(served[len(TEXTS) :], frame["label"], strict=True)
    ]
    assert np.mean(right) >= 0.75
    one = requests.post(
        endpoint.predict_url, json={"text": TEXTS[0]}, params={"probabilities": "true"}, timeout=30
    ).json()["predictions"][0]
    assert sorted(one["probabilities"]) == ["negative", "neutral", "positive"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"text": ""}, 422),
        ({"text": "   \n\t"}, 422),
        ({"text": 5}, 422),
        ({"text": ["a", "b"]}, 422),
        ({"text": None}, 422),
        ({}, 422),
        ({"text": "fine", "other": 1}, 422),
        ([], 422),
    ],
)
def test_bad_text_gets_a_422_json_error(endpoint: ServingEndpoint, body: Any, status: int) -> None:
    response = requests.post(endpoint.predict_url, json=body, timeout=30)
    assert response.status_code == status, response.text
    assert response.json()["error"]


def test_overlong_text_is_truncated_as_in_training(endpoint: ServingEndpoint) -> None:
    # one opinion, then ~700 kB of filler (within serve.max_body_bytes): the first 64 tokens are
    # kept, the ones a 20-sentence version of the same text already fills
    opinion, filler = "the battery was great. ", "i bought this lamp 4 weeks ago. "
    long, short = opinion + filler * 20_000, opinion + filler * 20
    answers = [
        requests.post(
            endpoint.predict_url, json={"text": t}, params={"probabilities": "true"}, timeout=30
        )
        for t in (long, short)
    ]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    first, second = (a.json()["predictions"][0] for a in answers)
    assert first["label"] == second["label"]
    assert first["probabilities"] == pytest.approx(second["probabilities"], abs=1e-6)


def test_hf_trainer_on_text_reaches_the_bar_and_serves_like_offline(
    reviews_hf: LoadedSpec, trained_reviews_hf: TrainingResult
) -> None:
    assert trained_reviews_hf.metrics["val_accuracy"] >= BAR
    served = deploy(resolve_target(reviews_hf.path, reviews_hf.overrides))
    try:
        response = requests.post(served.predict_url, json=[{"text": t} for t in TEXTS], timeout=30)
        assert response.status_code == 200, response.text
        expected = Predictor(served.checkpoint_path).predict([{"text": t} for t in TEXTS])
        for got, want in zip(response.json()["predictions"], expected, strict=True):
            assert want is not None and got["label"] == want["label"]
            assert abs(got["probability"] - want["probability"]) <= 1e-5
    finally:
        serve.delete(served.app_name)


def test_fine_tuning_from_a_save_pretrained_directory(
    trained_reviews: TrainingResult, digits_storage: Path, serve_port: int, tmp_path: Path
) -> None:
    """finetune.yaml's path: from_pretrained on a directory a first run saved, a new 2-class
    head, frozen embeddings, the weights' sha256 in the checkpoint and /metadata."""
    directory = save_pretrained(str(trained_reviews.checkpoint_path), tmp_path / "pretrained")
    tokenizer = (
        f"{{kind: tokenize, column: text, tokenizer: {{path: {directory}}}, max_length: 64}}"
    )
    loaded = load_spec(
        REVIEWS_FINETUNE_SPEC,
        [
            f"model.pretrained={directory}",
            f"data.preprocessing=[{tokenizer}]",
            f"run.storage_path={digits_storage}",
            f"serve.port={serve_port}",
            "serve.route=/reviews-finetune",  # beside the module's reviews app on /
        ],
    )
    result = run_training(loaded)
    assert result.metrics["val_accuracy"] >= BAR

    meta = read_meta(result.checkpoint_path)
    assert meta.pretrained == describe_pretrained(loaded.spec.model, loaded.base_dir)
    assert meta.pretrained is not None and meta.pretrained["sha256"].startswith("sha256:")
    assert meta.parsed_preprocessing.label_classes == ("negative", "positive")
    start = load_file(str(directory / "model.safetensors"))
    tuned = load_file(str(result.checkpoint_path / MODEL_FILE))
    frozen = [k for k in tuned if k.startswith("bert.embeddings.")]
    assert frozen and all((tuned[k] == start[k]).all() for k in frozen)
    moved = [k for k in tuned if k.startswith("bert.encoder.") and k in start]
    assert any(not (tuned[k] == start[k]).all() for k in moved)
    assert tuned["classifier.weight"].shape[0] == 2  # a new head for two classes

    served = deploy(resolve_target(loaded.path, loaded.overrides))
    try:
        base = served.url.rstrip("/")
        metadata = requests.get(f"{base}/metadata", timeout=10).json()
        assert metadata["pretrained"] == meta.pretrained
        answer = requests.post(served.predict_url, json={"text": TEXTS[0]}, timeout=30)
        assert answer.json()["predictions"][0]["label"] == "negative"
    finally:
        serve.delete(served.app_name)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.fixed_dictionaries({"text": st.text(max_size=300)})
    | st.fixed_dictionaries(
        {"text": st.none() | st.integers() | st.lists(st.text(max_size=5), max_size=3)}
    )
    | st.lists(st.fixed_dictionaries({"text": st.text(max_size=50)}), max_size=4)
)
def test_fuzzed_text_never_gets_a_server_error(endpoint: ServingEndpoint, body: Any) -> None:
    """Any unicode (control characters, emoji, blanks) and non-strings: 200 or a 4xx."""
    response = requests.post(endpoint.predict_url, json=body, timeout=30)
    assert response.status_code < 500, (body, response.status_code, response.text[:300])
    if response.status_code == 200:
        records = body if isinstance(body, list) else [body]
        assert len(response.json()["predictions"]) == len(records)
    else:
        assert "error" in response.json()
