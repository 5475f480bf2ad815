"""The digits data set: scikit-learn's bundled 8x8 handwritten digits (1,797 rows), as Parquet.

No download: the images ship inside the scikit-learn package. The file is written once and reused;
the same rows in the same order every time, so runs are reproducible.
"""

from __future__ import annotations

from pathlib import Path

NUM_ROWS = 1797
DEFAULT_DIR = Path(__file__).resolve().parent / ".data"


def write_digits_parquet(output_dir: str | None = None) -> str:
    """Write pixel_0..pixel_63 (0-16 intensities) and the `digit` label; return the file path."""
    import pandas as pd
    from sklearn.datasets import load_digits

    directory = Path(output_dir).expanduser() if output_dir else DEFAULT_DIR
    path = directory / "digits.parquet"
    if path.is_file() and len(pd.read_parquet(path, columns=["digit"])) == NUM_ROWS:
        return str(path)
    bunch = load_digits()
    frame = pd.DataFrame(bunch.data, columns=[f"pixel_{i}" for i in range(bunch.data.shape[1])])
    frame["digit"] = bunch.target.astype("int64")
    directory.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".parquet.tmp")
    frame.to_parquet(temporary, index=False)
    temporary.replace(path)  # atomic: a concurrent reader never sees half a file
    return str(path)
