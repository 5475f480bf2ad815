"""The data section's validation: a categorical step's problems name their field."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylight.spec import load_spec
from tests.unit.spec.conftest import VALID, problems, write


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("{kind: categorical, columns: [y]}", "the label 'y' cannot be a categorical feature"),
        ("{kind: categorical, columns: [zip]}", "categorical columns ['zip'] are not in"),
        ("{kind: categorical, columns: [a], max_categories: 0}", "max_categories: must be >= 1"),
        ("{kind: categorical, columns: []}", "columns: must not be empty"),
    ],
)
def test_categorical_step_problems_name_the_field(tmp_path: Path, step: str, expected: str) -> None:
    text = VALID.replace(
        "  label: y\n", f"  label: y\n  features: [a, b]\n  preprocessing:\n    - {step}\n"
    )
    (message,) = problems(write(tmp_path, text))
    assert "data.preprocessing" in message and expected in message


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("{kind: image, size: 16, resize: 8}", "resize 8 is smaller than size 16"),
        ("{kind: image, size: 2}", "size: must be >= 4"),
        ("{kind: image, size: 8, mode: CMYK}", "mode"),
        ("{kind: image, size: 8, normalize: {mean: [0.5], std: [0.2]}}", "needs 3 values"),
        ("{kind: image, size: 8, augment: {random_resized_crop: [0.9, 0.5]}}", "min <= max"),
        ("{kind: image, size: 8, column: y}", "cannot also be the label"),
        ("{kind: tokenize, tokenizer: {train: sentencepiece}}", "tokenizer"),
        ("{kind: tokenize, tokenizer: {path: t.json}, max_length: 2}", "max_length"),
    ],
)
def test_image_and_tokenize_step_problems_name_the_field(
    tmp_path: Path, step: str, expected: str
) -> None:
    text = VALID.replace("  label: y\n", f"  label: y\n  preprocessing:\n    - {step}\n")
    found = problems(write(tmp_path, text))  # a union's wrong member may report per member
    assert any("data.preprocessing" in m and expected in m for m in found), found


def test_an_image_folder_source_labels_by_subfolder_and_needs_an_image_step(
    tmp_path: Path,
) -> None:
    folder = VALID.replace(
        "{format: parquet, path: data.parquet}", "{format: image_folder, path: x}"
    )
    (message,) = problems(write(tmp_path, folder))
    assert "an image_folder source's label column is `label`" in message
    with_label = folder.replace("label: y", "label: label")
    (message,) = problems(write(tmp_path, with_label))
    assert "needs an image step on its `image` column" in message
    fine = with_label.replace(
        "label: label\n", "label: label\n  preprocessing: [{kind: image, size: 8}]\n"
    )
    assert load_spec(write(tmp_path, fine)).spec.data.preprocessing[0].kind == "image"
