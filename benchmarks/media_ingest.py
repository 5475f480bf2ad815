"""Image and text ingest: Raylight's Ray Data path against a torch DataLoader, same work and files.

Images: a generated folder of RGB JPEG files (class subfolders) is read, decoded, resized,
center-cropped and normalized by the same `ImageTransform`, once through Raylight's Ray Data path
(read_binary_files -> map_batches, streaming) and once through a torch DataLoader whose
Dataset reads each file and calls the same transform. Text: the reviews corpus tokenized by the
same trained tokenizer, through Ray Data map_batches and through a DataLoader whose collate_fn
tokenizes each batch. Both sides get the same number of worker processes. Each path runs three
times; prints each pass's seconds, the best rows/s and the ratio (Ray Data / DataLoader); not a
pass/fail test.

    .venv/bin/python benchmarks/media_ingest.py [--images 4000] [--side 128] [--workers 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BATCH = 64


def write_images(directory: Path, count: int, side: int) -> Path:
    """`count` RGB JPEG files of `side` px in 10 class folders (noise, a class-shaded square)."""
    from PIL import Image

    folder = directory / f"images-{count}-{side}"
    if folder.is_dir():
        return folder
    rng = np.random.default_rng(0)
    for index in range(count):
        label = index % 10
        pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        pixels[side // 4 : side // 2, side // 4 : side // 2] = label * 25
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / str(label) / f"{index:05d}.jpg", quality=90)
    return folder


REPEATS = 3


def timed(label: str, rows: Callable[[], Iterable[int]]) -> float:
    """Rows/s of the best of REPEATS passes (the first pays process start-up; all are printed)."""
    rates, seconds_each = [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        total = sum(rows())
        seconds = time.perf_counter() - start
        rates.append(total / seconds)
        seconds_each.append(f"{seconds:.2f}")
    print(
        f"  {label:<24} {total:>7} rows  passes {' '.join(seconds_each)} s  "
        f"best {max(rates):8.0f} rows/s"
    )
    return max(rates)


def images(folder: Path, side: int, workers: int) -> float:
    import torch
    from torch.utils.data import DataLoader, Dataset

    from raylight.preprocessing.images import ImageTransform
    from raylight.preprocessing.sources import read_image_folder
    from raylight.preprocessing.transforms import FittedPreprocessing

    crop = side // 2
    transform = ImageTransform(
        column="image",
        size=crop,
        resize=crop + crop // 8,
        mode="RGB",
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
    )
    fitted = FittedPreprocessing(
        feature_columns=(),
        label_column="label",
        task="classification",
        label_classes=tuple(str(d) for d in range(10)),
        steps=(transform,),
    )
    files = sorted(folder.glob("*/*.jpg"))

    def ray_data() -> Iterable[int]:
        dataset = read_image_folder(folder, [".jpg"]).map_batches(
            fitted.model_batch, batch_format="numpy"
        )
        for batch in dataset.iter_torch_batches(batch_size=BATCH):
            yield len(batch["label"])

    class Files(Dataset[Any]):
        def __len__(self) -> int:
            return len(files)

        def __getitem__(self, index: int) -> Any:
            file = files[index]
            return torch.from_numpy(transform.array(file.read_bytes())), int(file.parent.name)

    def data_loader() -> Iterable[int]:
        for images_batch, _ in DataLoader(Files(), batch_size=BATCH, num_workers=workers):
            yield len(images_batch)

    print(f"images: {len(files)} JPEG files {side}x{side} -> {crop}x{crop}, {workers} workers")
    ours = timed("Ray Data (Raylight)", ray_data)
    theirs = timed("torch DataLoader", data_loader)
    print(f"  ratio Ray Data / DataLoader: {ours / theirs:.2f}x")
    return ours / theirs


def text(workers: int) -> float:
    import pandas as pd
    import ray.data
    from torch.utils.data import DataLoader

    from pipelines.reviews.data import write_reviews
    from raylight.preprocessing.text import fitted_tokenizer, train_tokenizer
    from raylight.preprocessing.transforms import FittedPreprocessing

    path = write_reviews()
    texts = pd.read_json(path, lines=True)["text"].tolist()
    tokenizer = fitted_tokenizer(train_tokenizer([texts], "wordpiece", 2000, True, 2), "text", 64)
    fitted = FittedPreprocessing(
        feature_columns=(),
        label_column="label",
        task="classification",
        label_classes=("negative", "neutral", "positive"),
        steps=(tokenizer,),
    )

    def ray_data() -> Iterable[int]:
        dataset = ray.data.read_json(path, lines=True).map_batches(
            fitted.model_batch, batch_format="numpy"
        )
        for batch in dataset.iter_torch_batches(batch_size=BATCH):
            yield len(batch["label"])

    def data_loader() -> Iterable[int]:
        loader = DataLoader(
            texts, batch_size=BATCH, num_workers=workers, collate_fn=tokenizer.encode
        )
        for ids, _ in loader:
            yield len(ids)

    print(f"text: {len(texts)} reviews, max_length 64, {workers} workers")
    ours = timed("Ray Data (Raylight)", ray_data)
    theirs = timed("torch DataLoader", data_loader)
    print(f"  ratio Ray Data / DataLoader: {ours / theirs:.2f}x")
    return ours / theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--side", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False
    folder = write_images(ROOT / "benchmarks" / ".data", args.images, args.side)
    images(folder, args.side, args.workers)
    text(args.workers)


if __name__ == "__main__":
    main()
