"""A synthetic click-through log: users x items with hidden tastes, written once to Parquet.

Deterministic (numpy seed 0): the same rows every time, so runs are reproducible and the
fingerprint in a checkpoint's metadata is stable. Clicks follow a logistic model of a hidden
user-item affinity plus category, device, hour and price effects, so an embedding model can
learn what a model of the numeric columns alone cannot. Popularity is skewed (a few users and
items are most of the rows; many ids are seen only a few times), as in real logs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

DEFAULT_ROWS = 5_000_000
DEFAULT_DIR = Path(__file__).resolve().parent / ".data"
ROWS_PER_FILE = 500_000
NUM_USERS = 200_000
NUM_ITEMS = 20_000
NUM_CATEGORIES = 40
LATENT_DIM = 4
DEVICES = ("mobile", "desktop", "tablet")
COLUMNS = ("user_id", "item_id", "category", "device", "hour", "price", "user_age", "clicked")


def write_ctr_parquet(rows: int = DEFAULT_ROWS, output_dir: str | None = None) -> str:
    """Write `rows` impressions as Parquet files of ROWS_PER_FILE rows; return the directory.

    A complete directory is reused. It is built under a temporary name and renamed when every
    file is written, so a crash or a concurrent reader never sees a partial data set.
    """
    base = Path(output_dir).expanduser() if output_dir else DEFAULT_DIR
    directory = base / f"ctr-{rows}"
    if directory.is_dir():
        return str(directory)
    staging = base / f".ctr-{rows}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    world = _World(np.random.default_rng(0))
    for index, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        count = min(ROWS_PER_FILE, rows - start)
        frame = world.impressions(np.random.default_rng([0, index]), count)
        frame.to_parquet(staging / f"part-{index:04d}.parquet", index=False)
    try:
        staging.rename(directory)
    except OSError:  # another writer finished first: its copy is identical
        shutil.rmtree(staging, ignore_errors=True)
    return str(directory)


class _World:
    """The hidden truth the log is sampled from: tastes, popularity, effects."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.user_taste = rng.normal(0, 1, (NUM_USERS, LATENT_DIM))
        self.item_taste = rng.normal(0, 1, (NUM_ITEMS, LATENT_DIM))
        self.user_age = rng.integers(18, 75, NUM_USERS).astype(np.float64)
        self.item_category = rng.integers(0, NUM_CATEGORIES, NUM_ITEMS)
        self.item_price = np.round(np.exp(rng.normal(3, 1, NUM_ITEMS)), 2)
        self.category_bias = rng.normal(0, 0.7, NUM_CATEGORIES)
        self.device_bias = np.array([0.3, -0.2, 0.0])
        self.user_weights = _zipf_weights(NUM_USERS, 1.05)
        self.item_weights = _zipf_weights(NUM_ITEMS, 0.9)
        self.item_names = np.array([f"item_{i:05d}" for i in range(NUM_ITEMS)], dtype=object)
        self.category_names = np.array(
            [f"category_{c:02d}" for c in range(NUM_CATEGORIES)], dtype=object
        )

    def impressions(self, rng: np.random.Generator, count: int) -> object:
        import pandas as pd

        users = rng.choice(NUM_USERS, count, p=self.user_weights)
        items = rng.choice(NUM_ITEMS, count, p=self.item_weights)
        devices = rng.choice(len(DEVICES), count, p=[0.6, 0.3, 0.1])
        hours = rng.integers(0, 24, count)
        categories = self.item_category[items]
        affinity = np.einsum("ij,ij->i", self.user_taste[users], self.item_taste[items])
        logit = (
            -1.6
            + 0.6 * affinity
            + self.category_bias[categories]
            + self.device_bias[devices]
            + 0.4 * np.sin(hours / 24 * 2 * np.pi)
            - 0.3 * np.log(self.item_price[items])
            + 0.01 * (40 - self.user_age[users])
        )
        clicked = rng.random(count) < 1 / (1 + np.exp(-logit))
        return pd.DataFrame(
            {
                "user_id": users.astype(np.int64),
                "item_id": self.item_names[items],
                "category": self.category_names[categories],
                "device": np.array(DEVICES, dtype=object)[devices],
                "hour": hours.astype(np.int64),
                "price": self.item_price[items],
                "user_age": self.user_age[users],
                "clicked": clicked.astype(np.int64),
            },
            columns=list(COLUMNS),
        )


def _zipf_weights(count: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1) ** exponent
    return weights / weights.sum()
