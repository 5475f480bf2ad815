"""Image decode and transform: one function for Ray Data and requests, bad bytes named."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from raylight.preprocessing.images import ImageTransform, UnreadableImageError, decode_image


def png(width: int = 20, height: int = 12, mode: str = "RGB", seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(buffer, "PNG")
    return buffer.getvalue()


def transform(**changes: object) -> ImageTransform:
    values: dict = dict(
        column="image", size=8, resize=10, mode="RGB", mean=(0.5,) * 3, std=(0.25,) * 3
    )
    values.update(changes)
    return ImageTransform(**values)


def test_eval_transform_resizes_the_shorter_side_crops_and_normalizes() -> None:
    out = transform().array(png(20, 12))
    assert out.shape == (3, 8, 8) and out.dtype == np.float32
    # by hand with Pillow: shorter side 12 -> 10 (20 -> 17), centre 8x8, /255, (x-0.5)/0.25
    image = Image.open(io.BytesIO(png(20, 12))).resize((17, 10), Image.Resampling.BILINEAR)
    left, top = (17 - 8) // 2, (10 - 8) // 2
    pixels = np.asarray(image.crop((left, top, left + 8, top + 8)), dtype=np.float32) / 255
    np.testing.assert_allclose(out, (pixels.transpose(2, 0, 1) - 0.5) / 0.25, atol=1e-6)


def test_modes_mix_in_one_folder_and_come_out_alike() -> None:
    gray = transform(mode="L", mean=(), std=())
    assert gray.array(png(mode="RGB")).shape == (1, 8, 8)
    assert gray.array(png(mode="L")).shape == (1, 8, 8)
    assert transform().array(png(mode="L")).shape == (3, 8, 8)


def test_augmentation_only_with_a_generator_and_it_varies() -> None:
    step = transform(crop_scale=(0.5, 1.0), horizontal_flip=True)
    data = png(32, 32)
    np.testing.assert_array_equal(step.array(data), step.array(data))  # eval: deterministic
    rng = np.random.default_rng(0)
    augmented = [step.array(data, rng) for _ in range(5)]
    assert all(a.shape == (3, 8, 8) for a in augmented)
    assert any(not np.array_equal(augmented[0], a) for a in augmented[1:])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"not an image at all", "not a readable image"),
        (png(64, 64)[:60], "not a readable image"),  # truncated
    ],
)
def test_unreadable_bytes_are_named(data: bytes, message: str) -> None:
    with pytest.raises(UnreadableImageError, match=message):
        decode_image(data)


def test_images_over_the_pixel_limit_are_refused_before_decoding() -> None:
    with pytest.raises(UnreadableImageError, match="over the limit of 100"):
        decode_image(png(20, 12), max_pixels=100)


def test_batch_marks_unreadable_rows_instead_of_failing() -> None:
    images, readable = transform().batch([png(), b"junk", png(seed=1)])
    assert readable.tolist() == [True, False, True]
    assert not images[1].any()


def test_state_is_json_and_round_trips() -> None:
    step = transform(crop_scale=(0.8, 1.0), horizontal_flip=True, skip_unreadable=True)
    loaded = ImageTransform.from_dict(json.loads(json.dumps(step.to_dict())))
    assert loaded == step
