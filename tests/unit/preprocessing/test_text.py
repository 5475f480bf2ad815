"""Tokenizers: trained on text or loaded from tokenizer.json, saved as JSON, fixed length."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from raylight.preprocessing.text import (
    TextTokenizer,
    fitted_tokenizer,
    load_tokenizer,
    train_tokenizer,
)

CORPUS = ["the battery was not great", "the screen is bright", "delivery took 3 days"] * 20


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_trained_tokenizer_pads_and_truncates_to_max_length(kind: str) -> None:
    step = fitted_tokenizer(train_tokenizer([CORPUS], kind, 200, True, 1), "text", 6)
    ids, mask = step.encode(["The battery", "the screen is bright and the battery was great"])
    assert ids.shape == mask.shape == (2, 6) and ids.dtype == mask.dtype == np.int64
    assert mask[0].tolist() == [1, 1, 1, 1, 0, 0]  # [CLS] the battery [SEP], padded
    assert mask[1].all()  # truncated to 6
    assert ids[0, -1] == step.pad_token_id
    assert step.vocab_size <= 200


def test_state_is_the_tokenizers_own_json_and_round_trips(tmp_path: Path) -> None:
    step = fitted_tokenizer(train_tokenizer([CORPUS], "wordpiece", 200, True, 1), "text", 8)
    data = json.loads(json.dumps(step.to_dict()))
    assert data["tokenizer"]["model"]["type"] == "WordPiece"
    loaded = TextTokenizer.from_dict(data)
    texts = ["the battery was not great", "unseen words here"]
    np.testing.assert_array_equal(loaded.encode(texts)[0], step.encode(texts)[0])
    # and the same JSON is a tokenizer.json that `tokenizers` (and transformers) load
    (tmp_path / "tokenizer.json").write_text(json.dumps(data["tokenizer"]))
    again = fitted_tokenizer(load_tokenizer(tmp_path), "text", 8)
    np.testing.assert_array_equal(again.encode(texts)[0], step.encode(texts)[0])


def test_a_directory_without_tokenizer_json_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no tokenizer\.json"):
        load_tokenizer(tmp_path)
