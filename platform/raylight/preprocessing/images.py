"""Image bytes -> the model input `image`: one decode and transform for Ray Data and for requests.

Training, validation, the offline Predictor and every serving request call `ImageTransform.array`,
so the tensors a model sees at serving time are the ones it was validated on. The state is
plain JSON (size, mode, mean, std, augmentation ranges). Decoding is Pillow's; the resize,
center crop and random resized crop are Pillow calls written here with the parameters
torchvision uses (bilinear, aspect 3/4-4/3), which keeps torchvision out of a table user's
install.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from raylight.spec.serve import ServeSpec

# width * height a request may decode (decompression bombs): serve.max_image_pixels' default
DEFAULT_MAX_PIXELS: int = ServeSpec.model_fields["max_image_pixels"].default


class UnreadableImageError(ValueError):
    """Bytes that are not a decodable image (or one too large): a data error, never a crash."""


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Any:
    """Bytes -> a fully decoded PIL image; UnreadableImageError names what is wrong.

    The size check comes from the header, before any pixel is decoded, so a decompression bomb
    costs nothing; `load()` then decodes every pixel, so a truncated file fails here and not
    inside a model call.
    """
    from PIL import Image

    if not data:
        raise UnreadableImageError("empty: zero bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width == 0 or height == 0:
                raise UnreadableImageError(f"a zero-size image ({width}x{height})")
            if width * height > max_pixels:
                raise UnreadableImageError(
                    f"{width}x{height} pixels, over the limit of {max_pixels} "
                    "(serve.max_image_pixels)"
                )
            image.load()
    except UnreadableImageError:
        raise
    except Image.UnidentifiedImageError:
        raise UnreadableImageError("not a readable image (no image format recognized)") from None
    except Exception as error:  # Pillow raises many types for bad bytes; all mean "not an image"
        raise UnreadableImageError(
            f"not a readable image ({type(error).__name__}: {error})"
        ) from None
    return image


@dataclass(frozen=True)
class ImageTransform:
    """A fitted `image` step: decode, mode, resize, center crop, scale, normalize (+ augment)."""

    column: str
    size: int
    resize: int
    mode: str  # "RGB" or "L"
    mean: tuple[float, ...]  # per channel; () means no normalization
    std: tuple[float, ...]
    crop_scale: tuple[float, float] | None = None  # train only: random resized crop
    horizontal_flip: bool = False  # train only
    skip_unreadable: bool = False
    kind: str = "image"

    @property
    def channels(self) -> int:
        return 3 if self.mode == "RGB" else 1

    def pixels(self, image: Any, rng: np.random.Generator | None = None) -> np.ndarray:
        """A decoded image -> float32 (C, size, size) in [0, 1], before normalization.

        With `rng` (training with augment) the crop is random and the flip a coin toss;
        without it the transform is exactly the evaluation one.
        """
        from PIL import Image

        image = image.convert(self.mode)
        if rng is not None and self.crop_scale is not None:
            image = _random_resized_crop(image, self.size, self.crop_scale, rng)
        else:
            image = _center_crop(_resize_shorter(image, self.resize), self.size)
        if rng is not None and self.horizontal_flip and rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        array = np.asarray(image, dtype=np.float32) / 255.0
        return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)

    def array(
        self,
        data: bytes,
        rng: np.random.Generator | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> np.ndarray:
        """Image bytes -> the normalized float32 (C, size, size) the model receives."""
        pixels = self.pixels(decode_image(data, max_pixels), rng)
        if not self.mean:
            return pixels
        mean = np.asarray(self.mean, dtype=np.float32)[:, None, None]
        std = np.asarray(self.std, dtype=np.float32)[:, None, None]
        return (pixels - mean) / std

    def batch(
        self, values: Sequence[bytes], rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Many images -> (N, C, size, size) and a mask of those that decoded (zeros if not)."""
        out = np.zeros((len(values), self.channels, self.size, self.size), dtype=np.float32)
        readable = np.ones(len(values), dtype=bool)
        for i, value in enumerate(values):
            try:
                out[i] = self.array(value, rng)
            except UnreadableImageError:
                readable[i] = False
        return out, readable

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "column": self.column,
            "size": self.size,
            "resize": self.resize,
            "mode": self.mode,
            "mean": list(self.mean),
            "std": list(self.std),
            "crop_scale": list(self.crop_scale) if self.crop_scale else None,
            "horizontal_flip": self.horizontal_flip,
            "skip_unreadable": self.skip_unreadable,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageTransform:
        crop = data.get("crop_scale")
        return cls(
            column=str(data["column"]),
            size=int(data["size"]),
            resize=int(data["resize"]),
            mode=str(data["mode"]),
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
            crop_scale=(float(crop[0]), float(crop[1])) if crop else None,
            horizontal_flip=bool(data.get("horizontal_flip", False)),
            skip_unreadable=bool(data.get("skip_unreadable", False)),
        )


def _resize_shorter(image: Any, side: int) -> Any:
    from PIL import Image

    width, height = image.size
    scale = side / min(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.BILINEAR)


def _center_crop(image: Any, size: int) -> Any:
    width, height = image.size
    left, top = (width - size) // 2, (height - size) // 2
    return image.crop((left, top, left + size, top + size))


def _random_resized_crop(
    image: Any, size: int, scale: tuple[float, float], rng: np.random.Generator
) -> Any:
    """torchvision's RandomResizedCrop: a random area share and aspect, ten tries, else center."""
    from PIL import Image

    width, height = image.size
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        w, h = round(np.sqrt(target * aspect)), round(np.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            box = (left, top, left + w, top + h)
            return image.resize((size, size), Image.Resampling.BILINEAR, box=box)
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    box = (left, top, left + side, top + side)
    return image.resize((size, size), Image.Resampling.BILINEAR, box=box)
