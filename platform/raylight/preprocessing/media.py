"""Fit the image and tokenize steps on the training split, in Ray Data, before training starts.

The image step scans both splits once: every file is decoded (so unreadable ones are counted and
named before a worker starts) and the training split's per-channel pixel sums give the fitted
mean and std. The tokenize step trains a tokenizer on the training split's text, streamed.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from raylight.errors import DataError
from raylight.preprocessing.images import ImageTransform, UnreadableImageError, decode_image
from raylight.preprocessing.sources import IMAGE_NAME
from raylight.preprocessing.text import (
    TextTokenizer,
    fitted_tokenizer,
    load_tokenizer,
    train_tokenizer,
)
from raylight.spec.data import DataSpec, GivenNormalization, ImageStep, TokenizeStep

if TYPE_CHECKING:
    import ray.data

NAMED_UNREADABLE = 5  # how many unreadable files an error or warning names
EXAMPLE_TEXT_CHARS = 500


def media_steps(
    data: DataSpec, raw: ray.data.Dataset
) -> tuple[ImageStep | None, TokenizeStep | None]:
    """The spec's image and tokenize steps, their columns checked against the data."""
    import pyarrow.types as pat

    image = next((s for s in data.preprocessing if isinstance(s, ImageStep)), None)
    text = next((s for s in data.preprocessing if isinstance(s, TokenizeStep)), None)
    types = dict(zip(raw.schema().names, raw.schema().types, strict=True))
    for step, kinds in ((image, "bytes or file paths"), (text, "strings")):
        if step is None:
            continue
        if step.column not in types:
            raise DataError(
                f"data.preprocessing: the {step.kind} step's column {step.column!r} is not in "
                f"the data ({', '.join(repr(n) for n in types if n != IMAGE_NAME)})."
            )
        kind = types[step.column]
        strings = pat.is_string(kind) or pat.is_large_string(kind)
        binary = pat.is_binary(kind) or pat.is_large_binary(kind)
        if not (strings or (binary and step is image)):
            raise DataError(
                f"data.preprocessing: the {step.kind} step's column {step.column!r} holds "
                f"{kind}; it needs {kinds}."
            )
    return image, text


def read_image_paths(raw: ray.data.Dataset, column: str, base: Path) -> ray.data.Dataset:
    """A table's image column of file paths -> the files' bytes (and their names kept).

    A bytes column passes through unnamed. A missing file reads as empty bytes, which the
    scan counts as unreadable like a corrupt one.
    """
    import pyarrow.types as pat

    schema = raw.schema()
    kind = schema.types[schema.names.index(column)]
    if not (pat.is_string(kind) or pat.is_large_string(kind)):
        return raw
    root = str(base)

    def read(batch: dict[str, Any]) -> dict[str, Any]:
        names = [str(v) for v in batch[column]]
        contents = []
        for name in names:
            path = Path(name) if Path(name).is_absolute() else Path(root) / name
            try:
                contents.append(path.read_bytes())
            except OSError:
                contents.append(b"")
        return {**batch, column: np.array(contents, dtype=object), IMAGE_NAME: names}

    return raw.map_batches(read, batch_format="numpy")


def fit_image_step(
    step: ImageStep, train: ray.data.Dataset, val: ray.data.Dataset
) -> ImageTransform:
    """Decode every image once (Ray Data tasks); fail or warn on unreadable ones; fit mean/std."""
    size = step.resize or step.size
    plain = ImageTransform(
        column=step.column, size=step.size, resize=size, mode=step.mode, mean=(), std=()
    )
    train_scan, val_scan = _scan(train, plain), _scan(val, plain)
    bad = train_scan["bad"] + val_scan["bad"]
    if bad:
        names = (train_scan["names"] + val_scan["names"])[:NAMED_UNREADABLE]
        listed = "; ".join(names)
        if not step.skip_unreadable:
            raise DataError(
                f"data.preprocessing: {bad} image(s) in column {step.column!r} do not decode: "
                f"{listed}. Fix or remove them, or set skip_unreadable: true on the image step "
                "to train without them."
            )
        print(f"Skipping {bad} unreadable image(s) (skip_unreadable: true): {listed}")
    if train_scan["pixels"] == 0:
        raise DataError("data.preprocessing: no readable image in the training split.")
    if step.normalize == "fitted":
        mean = train_scan["sum"] / train_scan["pixels"]
        variance = train_scan["sum_sq"] / train_scan["pixels"] - mean**2
        std = np.sqrt(np.maximum(variance, 0.0))
        mean_t = tuple(float(v) for v in mean)
        std_t = tuple(float(v) if v > 1e-6 else 1.0 for v in std)  # a flat channel stays as is
    elif isinstance(step.normalize, GivenNormalization):
        mean_t, std_t = tuple(step.normalize.mean), tuple(step.normalize.std)
    else:
        mean_t, std_t = (), ()
    augment = step.augment
    return ImageTransform(
        column=step.column,
        size=step.size,
        resize=size,
        mode=step.mode,
        mean=mean_t,
        std=std_t,
        crop_scale=augment.random_resized_crop if augment else None,
        horizontal_flip=bool(augment and augment.horizontal_flip),
        skip_unreadable=step.skip_unreadable,
    )


def _scan(split: ray.data.Dataset, plain: ImageTransform) -> dict[str, Any]:
    """Per-channel pixel sums and the unreadable images of one split, summed over its batches."""
    column = plain.column

    def scan(batch: dict[str, Any]) -> dict[str, Any]:
        sums = np.zeros(plain.channels)
        sums_sq = np.zeros(plain.channels)
        pixels, bad, names = 0, 0, list[str]()
        values = batch[column]
        labels = batch.get(IMAGE_NAME)
        for i, value in enumerate(values):
            try:
                array = plain.pixels(decode_image(bytes(value) if value is not None else b""))
            except UnreadableImageError as error:
                bad += 1
                if len(names) < NAMED_UNREADABLE:
                    where = (
                        str(labels[i])
                        if labels is not None
                        else f"a {len(value or b'')}-byte value"
                    )
                    names.append(f"{where} ({error})")
                continue
            sums += array.sum(axis=(1, 2))
            sums_sq += (array.astype(np.float64) ** 2).sum(axis=(1, 2))
            pixels += array.shape[1] * array.shape[2]
        return {
            "sum": sums[None],
            "sum_sq": sums_sq[None],
            "pixels": np.array([pixels]),
            "bad": np.array([bad]),
            "names": np.array(["\x1f".join(names)], dtype=object),
        }

    parts = split.select_columns(
        [c for c in (column, IMAGE_NAME) if c in split.schema().names]
    ).map_batches(scan, batch_format="numpy")
    rows = parts.take_all()  # one small row per batch
    return {
        "sum": np.sum([r["sum"] for r in rows], axis=0),
        "sum_sq": np.sum([r["sum_sq"] for r in rows], axis=0),
        "pixels": int(sum(int(r["pixels"]) for r in rows)),
        "bad": int(sum(int(r["bad"]) for r in rows)),
        "names": [n for r in rows for n in str(r["names"]).split("\x1f") if n],
    }


def fit_tokenize_step(step: TokenizeStep, train: ray.data.Dataset, base_dir: Path) -> TextTokenizer:
    """Train the tokenizer on the training split's text (streamed in batches), or load one."""
    from raylight.spec.loader import resolve_spec_path

    tokenizer_spec = step.tokenizer
    if hasattr(tokenizer_spec, "path"):
        path = resolve_spec_path(tokenizer_spec.path, base_dir)
        try:
            tokenizer = load_tokenizer(path)
        except Exception as error:  # a missing file, or JSON `tokenizers` cannot read
            raise DataError(f"data.preprocessing: tokenizer.path: {error}") from None
    else:
        texts = (
            ["" if t is None else str(t) for t in batch[step.column]]
            for batch in train.select_columns([step.column]).iter_batches(
                batch_size=2048, batch_format="numpy"
            )
        )
        tokenizer = train_tokenizer(
            texts,
            tokenizer_spec.train,
            tokenizer_spec.vocab_size,
            tokenizer_spec.lowercase,
            tokenizer_spec.min_frequency,
        )
    return fitted_tokenizer(tokenizer, step.column, step.max_length)


def example_value(value: Any) -> Any:
    """A request's example of an image (base64 of its bytes) or a text (its first characters)."""
    if isinstance(value, bytes | bytearray | np.ndarray):
        return base64.b64encode(bytes(value)).decode()
    return str(value)[:EXAMPLE_TEXT_CHARS]
