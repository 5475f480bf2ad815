"""Images from a folder of PNG files to the endpoint: accuracy, parity of the two input paths,
uploads as multipart and base64, bad uploads, unreadable files, a sweep."""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray.data
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from ray import serve

from pipelines.digits_images.data import write_digit_pngs
from raylight.errors import DataError
from raylight.preprocessing.datasets import prepare_datasets
from raylight.preprocessing.sources import IMAGE_NAME, read_image_folder
from raylight.serving.deployment import ServingEndpoint, deploy
from raylight.serving.predictor import Predictor
from raylight.serving.targets import resolve_target
from raylight.spec import LoadedSpec, load_spec
from raylight.training import TrainingResult
from raylight.tuning import run_tuning

BAR = 0.95  # the pipeline's bar (README)


@pytest.fixture(scope="module")
def folder() -> Path:
    return Path(write_digit_pngs())


@pytest.fixture(scope="module")
def files(folder: Path) -> list[Path]:
    """A spread of files: every tenth one is saved in RGB mode, the rest in L."""
    chosen = sorted(folder.glob("*/*.png"))[::113]
    assert any(Image.open(f).mode == "RGB" for f in chosen)
    assert any(Image.open(f).mode == "L" for f in chosen)
    return chosen


@pytest.fixture(scope="module")
def endpoint(
    digit_images: LoadedSpec, trained_digit_images: TrainingResult
) -> Iterator[ServingEndpoint]:
    target = resolve_target(digit_images.path, digit_images.overrides)
    assert target.checkpoint_path == trained_digit_images.checkpoint_path
    served = deploy(target)
    yield served
    serve.delete(served.app_name)


def test_managed_loop_on_images_reaches_the_bar(trained_digit_images: TrainingResult) -> None:
    assert trained_digit_images.metrics["val_accuracy"] >= BAR


def test_lightning_on_images_reaches_the_bar_and_serves_like_offline(
    digit_images_lightning: LoadedSpec,
    trained_digit_images_lightning: TrainingResult,
    files: list[Path],
) -> None:
    assert trained_digit_images_lightning.metrics["val_accuracy"] >= BAR
    served = deploy(resolve_target(digit_images_lightning.path, digit_images_lightning.overrides))
    try:
        offline = Predictor(served.checkpoint_path)
        for file in files[:4]:
            answer = post_file(served, file)
            (want,) = offline.predict([{"image": file.read_bytes()}])
            assert answer["label"] == want["label"]  # type: ignore[index]
            assert abs(answer["probability"] - want["probability"]) <= 1e-5  # type: ignore[index]
    finally:
        serve.delete(served.app_name)


def test_ray_data_and_request_paths_make_identical_tensors(
    trained_digit_images: TrainingResult, files: list[Path], tmp_path: Path
) -> None:
    predictor = Predictor(trained_digit_images.checkpoint_path)
    preprocessing = predictor.preprocessing
    for file in files:  # the same files as an image folder of their own
        (tmp_path / file.parent.name).mkdir(exist_ok=True)
        shutil.copy(file, tmp_path / file.parent.name / file.name)

    def keep_names(batch: dict[str, Any]) -> dict[str, Any]:
        return {**preprocessing.model_batch(batch), "name": batch[IMAGE_NAME]}

    batch = (
        read_image_folder(tmp_path, [".png"])
        .map_batches(keep_names, batch_format="numpy")
        .take_batch(len(files))
    )
    by_name = dict(zip(batch["name"], batch["image"], strict=True))
    for file in files:
        from_data = by_name[f"{file.parent.name}/{file.name}"]
        raw = file.read_bytes()
        from_upload = predictor.encode([{"image": raw}])["image"][0]
        from_base64 = predictor.encode([{"image": base64.b64encode(raw).decode()}])["image"][0]
        assert from_data.shape == (1, 16, 16)
        np.testing.assert_array_equal(from_data, from_upload)
        np.testing.assert_array_equal(from_data, from_base64)


def post_file(endpoint: ServingEndpoint, file: Path, **params: Any) -> dict[str, Any]:
    with file.open("rb") as stream:
        response = requests.post(
            endpoint.predict_url, files={"image": stream}, params=params, timeout=30
        )
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    return dict(prediction)


def test_served_predictions_equal_the_offline_predictor(
    endpoint: ServingEndpoint, files: list[Path]
) -> None:
    offline = Predictor(endpoint.checkpoint_path)
    expected = offline.predict([{"image": f.read_bytes()} for f in files])
    uploaded = [post_file(endpoint, file) for file in files]
    records = [{"image": base64.b64encode(f.read_bytes()).decode()} for f in files]
    response = requests.post(endpoint.predict_url, json=records, timeout=30)
    assert response.status_code == 200, response.text
    as_base64 = response.json()["predictions"]
    for served in (uploaded, as_base64):
        assert [p["label"] for p in served] == [e["label"] for e in expected if e]
        for got, want in zip(served, expected, strict=True):
            assert want is not None and abs(got["probability"] - want["probability"]) <= 1e-5
    # and the labels are the folders' names: right for nearly all of them
    right = [p["label"] == f.parent.name for p, f in zip(uploaded, files, strict=True)]
    assert np.mean(right) >= 0.9


def test_every_class_probability_on_request(endpoint: ServingEndpoint, files: list[Path]) -> None:
    answer = post_file(endpoint, files[0], probabilities="true")
    assert sorted(answer["probabilities"]) == [str(d) for d in range(10)]
    assert abs(sum(answer["probabilities"].values()) - 1) < 1e-4
    assert answer["probabilities"][answer["label"]] == answer["probability"]
    assert "probabilities" not in post_file(endpoint, files[0])


def png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, "PNG")
    return buffer.getvalue()


def bad_requests(folder: Path) -> list[tuple[str, dict[str, Any], int]]:
    good = sorted(folder.glob("3/*.png"))[0].read_bytes()
    return [
        ("bytes that are not an image", {"files": {"image": b"plain text"}}, 422),
        ("a truncated PNG", {"files": {"image": good[: len(good) // 2]}}, 422),
        ("a zero-byte file", {"files": {"image": b""}}, 422),
        # 7000 x 7000 pixels in a ~50 kB PNG: over serve.max_image_pixels (40M) by its header
        ("a decompression bomb", {"files": {"image": png_bytes(7000, 7000)}}, 422),
        ("the wrong multipart field", {"files": {"file": good}}, 422),
        ("the image as a form value", {"files": {"image": (None, "abc")}}, 422),
        ("a form that is not multipart", {"data": {"image": "abc"}}, 415),
        ("base64 that does not decode", {"json": {"image": "not base64!"}}, 422),
        ("base64 of something else", {"json": {"image": base64.b64encode(b"x").decode()}}, 422),
        ("a number for the image", {"json": {"image": 3}}, 422),
        ("a missing image", {"json": {}}, 422),
        ("an unknown field", {"json": {"image": "aa==", "extra": 1}}, 422),
        ("broken JSON", {"data": "{", "headers": {"content-type": "application/json"}}, 400),
        (
            "a malformed multipart body",
            {"data": "junk", "headers": {"content-type": "multipart/form-data; boundary=x"}},
            400,
        ),
        ("another content type", {"data": "x", "headers": {"content-type": "text/plain"}}, 415),
    ]


def test_bad_uploads_get_a_4xx_json_error_and_the_endpoint_stays_up(
    endpoint: ServingEndpoint, folder: Path, files: list[Path]
) -> None:
    for name, request, status in bad_requests(folder):
        response = requests.post(endpoint.predict_url, timeout=30, **request)
        assert response.status_code == status, (name, response.status_code, response.text)
        assert response.json()["error"], name
    assert post_file(endpoint, files[0])["label"]


def test_the_image_checkpoint_publishes_its_inputs(endpoint: ServingEndpoint) -> None:
    metadata = requests.get(f"{endpoint.url.rstrip('/')}/metadata", timeout=10).json()
    assert metadata["inputs"] == {"image": "image"}
    openapi = requests.get(f"{endpoint.url.rstrip('/')}/openapi.json", timeout=10).json()
    body = openapi["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["image"]["format"] == "binary"
    assert "application/json" in body


def image_folder_spec(tmp_path: Path, skip: bool) -> LoadedSpec:
    text = f"""
spec_version: 1
name: tiny-images
data:
  source: {{format: image_folder, path: {tmp_path / "images"}}}
  label: label
  validation: {{fraction: 0.3, seed: 0}}
  preprocessing:
    - {{kind: image, size: 8, mode: RGB, skip_unreadable: {str(skip).lower()}}}
model: {{builder: pipelines.digits_images.model:build_cnn}}
"""
    path = tmp_path / f"spec-{skip}.yaml"
    path.write_text(text)
    return load_spec(path)


def test_unreadable_files_stop_before_training_with_their_names_or_are_skipped(
    ray_cluster: Any, folder: Path, tmp_path: Path
) -> None:
    for digit in ("1", "7"):
        target = tmp_path / "images" / digit
        target.mkdir(parents=True)
        for file in sorted((folder / digit).glob("*.png"))[:6]:
            shutil.copy(file, target / file.name)
    (tmp_path / "images" / "7" / "broken.png").write_bytes(b"\x89PNG\r\n not really")

    stopping = image_folder_spec(tmp_path, skip=False)
    with pytest.raises(DataError) as error:
        prepare_datasets(stopping.spec.data, "classification", stopping.base_dir)
    assert "1 image(s)" in error.value.message and "7/broken.png" in error.value.message

    skipping = image_folder_spec(tmp_path, skip=True)
    prepared = prepare_datasets(skipping.spec.data, "classification", skipping.base_dir)
    rows = prepared.train.count() + prepared.val.count()
    assert rows == 12  # the 12 readable images, the broken one left out
    assert prepared.preprocessing.label_classes == ("1", "7")
    assert ray.data  # the reading ran in Ray Data (read_image_folder), on the test's Ray


def test_an_in_process_asha_sweep_on_images(ray_cluster: Any, tmp_path: Path) -> None:
    from tests.conftest import IMAGES_SPEC

    loaded = load_spec(
        IMAGES_SPEC,
        [
            f"run.storage_path={tmp_path}",
            "resources.num_workers=0",
            "train.epochs=2",
            "tune.num_samples=2",
            "tune.scheduler.grace_period=1",
        ],
    )
    result = run_tuning(loaded)
    assert len(result.trials) == 2
    assert result.metric_value > 0.5
    assert Predictor(result.checkpoint_path).preprocessing.image is not None


def _png_prefix(data: bytes) -> bytes:
    """Random bytes behind a real PNG signature and header, so the decoder goes further in."""
    good = png_bytes(8, 8)
    return good[: len(good) // 2] + data


IMAGE_BYTES = st.binary(max_size=2048) | st.binary(max_size=512).map(_png_prefix)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=IMAGE_BYTES,
    as_json=st.booleans(),
    text=st.text(max_size=40),
)
def test_fuzzed_images_never_get_a_server_error(
    endpoint: ServingEndpoint, data: bytes, as_json: bool, text: str
) -> None:
    """Random bytes (some behind a real PNG header) as uploads and as base64, and random text
    as the JSON image field: 200 or a 4xx with a JSON error, never a 5xx."""
    if as_json:
        bodies: list[dict[str, Any]] = [
            {"json": {"image": base64.b64encode(data).decode()}},
            {"json": {"image": text}},
        ]
    else:
        bodies = [{"files": {"image": data}}]
    for request in bodies:
        response = requests.post(endpoint.predict_url, timeout=30, **request)
        assert response.status_code < 500, (request, response.status_code, response.text[:300])
        assert response.status_code == 200 or "error" in response.json()


def test_a_table_of_image_paths_and_numbers_trains_and_predicts_both(
    ray_cluster: Any, folder: Path, tmp_path: Path
) -> None:
    """A CSV whose `photo` column holds image paths (relative to the CSV) beside a numeric
    column: the model gets `image` and `features` by name, in training and in the predictor."""
    rows = []
    for digit in ("0", "1"):
        for file in sorted((folder / digit).glob("*.png"))[:40]:
            rows.append({"photo": f"{digit}/{file.name}", "size": float(digit), "label": digit})
    images = tmp_path / "table"
    for row in rows:
        (images / row["photo"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / row["photo"], images / row["photo"])
    import pandas as pd

    pd.DataFrame(rows).to_csv(images / "photos.csv", index=False)
    spec = tmp_path / "mixed.yaml"
    spec.write_text(
        f"""
spec_version: 1
name: mixed-inputs
data:
  source: {{format: csv, path: {images / "photos.csv"}}}
  label: label
  features: [size]
  preprocessing:
    - {{kind: standardize}}
    - {{kind: image, column: photo, mode: L, size: 8}}
model: {{builder: tests.integration.mixed_model:build}}
train: {{epochs: 2, batch_size: 16, loss: cross_entropy, metric: val_accuracy}}
resources: {{num_workers: 1}}
run: {{storage_path: {tmp_path / "runs"}}}
"""
    )
    from raylight.training import run_training

    result = run_training(load_spec(spec))
    predictor = Predictor(result.checkpoint_path)
    assert predictor.preprocessing.input_names == ("features", "image")
    raw = (folder / rows[0]["photo"]).read_bytes()
    (answer,) = predictor.predict([{"size": 0.0, "photo": raw}])
    assert answer is not None and answer["label"] in (0, 1)  # CSV reads the labels as ints
    assert result.metrics["val_rows"] == 16


def test_your_own_ray_train_loop_on_images_trains_and_serves_like_offline(
    ray_cluster: Any, digits_storage: Path, serve_port: int, files: list[Path]
) -> None:
    """`train.loop.kind: ray_train`: the user's loop reads batch["image"] from its shards."""
    from raylight.training import run_training
    from tests.conftest import ROOT

    loaded = load_spec(
        ROOT / "pipelines" / "digits_images" / "ray_train_loop.yaml",
        [
            f"run.storage_path={digits_storage}",
            f"serve.port={serve_port}",
            "serve.route=/digit-images-ray-train",  # beside the module's app on /
        ],
    )
    result = run_training(loaded)
    assert result.metrics["val_accuracy"] >= BAR
    served = deploy(resolve_target(loaded.path, loaded.overrides))
    try:
        offline = Predictor(served.checkpoint_path)
        for file in files[:4]:
            answer = post_file(served, file)
            (want,) = offline.predict([{"image": file.read_bytes()}])
            assert want is not None and answer["label"] == want["label"]
            assert abs(answer["probability"] - want["probability"]) <= 1e-5
    finally:
        serve.delete(served.app_name)
