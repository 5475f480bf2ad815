"""Text -> `input_ids` and `attention_mask` with a `tokenizers` tokenizer, saved as its JSON.

The fitted step holds the tokenizer's own `tokenizer.json` text (truncation and padding to
`max_length` included), so a checkpoint carries it as plain JSON and serving rebuilds the exact
tokenizer with `Tokenizer.from_str`. Ray Data's `map_batches` and every request call `encode`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_NAMES = ("[PAD]", "<pad>", "<PAD>")


@dataclass(frozen=True)
class TextTokenizer:
    """A fitted `tokenize` step: the tokenizer JSON, the text column and the length."""

    column: str
    max_length: int
    tokenizer_json: str = field(repr=False)
    kind: str = "tokenize"

    @cached_property
    def tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        return Tokenizer.from_str(self.tokenizer_json)

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size(with_added_tokens=True))

    @property
    def pad_token_id(self) -> int:
        return int((self.tokenizer.padding or {}).get("pad_id", 0))

    def encode(self, texts: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Texts -> (input_ids, attention_mask), int64 (N, max_length); None counts as ''."""
        encodings = self.tokenizer.encode_batch(["" if t is None else str(t) for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64).reshape(-1, self.max_length)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return ids, mask.reshape(-1, self.max_length)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "column": self.column,
            "max_length": self.max_length,
            "tokenizer": json.loads(self.tokenizer_json),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TextTokenizer:
        return cls(
            column=str(data["column"]),
            max_length=int(data["max_length"]),
            tokenizer_json=json.dumps(data["tokenizer"]),
        )


def train_tokenizer(
    texts: Iterable[Sequence[str]], kind: str, vocab_size: int, lowercase: bool, min_frequency: int
) -> Any:
    """A WordPiece or BPE tokenizer trained on batches of texts, BERT-style: [CLS] text [SEP]."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        trainer: Any = trainers.WordPieceTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS)
        )
        tokenizer.decoder = decoders.WordPiece()
    else:
        tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS)
        )
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(texts, trainer)
    from tokenizers.processors import TemplateProcessing

    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return tokenizer


def load_tokenizer(path: Path) -> Any:
    """A `tokenizer.json` file, or a local tokenizer directory holding one (save_pretrained's)."""
    from tokenizers import Tokenizer

    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(
            f"{path} has no tokenizer.json (a fast tokenizer's save_pretrained writes one)"
        )
    return Tokenizer.from_file(str(file))


def fitted_tokenizer(tokenizer: Any, column: str, max_length: int) -> TextTokenizer:
    """Fix truncation and padding to max_length, and keep the tokenizer as its JSON."""
    pad_id, pad_token = 0, "[PAD]"
    for name in PAD_NAMES:
        if tokenizer.token_to_id(name) is not None:
            pad_id, pad_token = tokenizer.token_to_id(name), name
            break
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(length=max_length, pad_id=pad_id, pad_token=pad_token)
    return TextTokenizer(column=column, max_length=max_length, tokenizer_json=tokenizer.to_str())
