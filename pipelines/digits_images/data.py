"""scikit-learn's bundled digits as PNG files in class folders: an image_folder data set, offline.

Each 8x8 image is upscaled to 32x32 (bilinear) and written as `<digit>/<index>.png`. Every
tenth file is saved in RGB mode and the rest in L (grayscale), so the folder mixes modes as real
ones do; the image step converts them all to its `mode`. Same files every time.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parent / ".data"
NUM_IMAGES = 1797
SIDE = 32


def write_digit_pngs(output_dir: str | None = None) -> str:
    """Write the PNG folder once (atomically, by renaming a finished one); return its path."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    directory = Path(output_dir).expanduser() if output_dir else DEFAULT_DIR
    folder = directory / "digits_png"
    if folder.is_dir() and sum(1 for _ in folder.glob("*/*.png")) == NUM_IMAGES:
        return str(folder)
    bunch = load_digits()
    staging = directory / ".digits_png.partial"
    if staging.exists():
        import shutil

        shutil.rmtree(staging)
    for index, (pixels, digit) in enumerate(zip(bunch.images, bunch.target, strict=True)):
        gray = Image.fromarray((pixels * (255 / 16)).round().astype(np.uint8), mode="L")
        image = gray.resize((SIDE, SIDE), Image.Resampling.BILINEAR)
        if index % 10 == 0:
            image = image.convert("RGB")
        (staging / str(digit)).mkdir(parents=True, exist_ok=True)
        image.save(staging / str(digit) / f"{index:04d}.png")
    staging.replace(folder)
    return str(folder)
