"""A run's metrics history: one JSON line per report, in `metrics.jsonl` in the run directory.

Ray's Result keeps metrics only for checkpointed reports; this file has every epoch. The
driver tails it for progress, `--resume` reads where a run got to, and a sweep's history
export reads every trial's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"


def append_metrics(path: Path, metrics: dict[str, Any]) -> None:
    """One JSON line per epoch.

    `reported_at` (Unix time) orders epochs across trials, for best-so-far against compute.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({**metrics, "reported_at": round(time.time(), 3)}, default=float)
    with open(path, "a") as file:
        file.write(line + "\n")


def last_epoch(run_path: Path) -> int:
    """The last epoch a run reported (0 before its first report)."""
    path = run_path / METRICS_FILE
    if not path.is_file():
        return 0
    for line in reversed(path.read_text().splitlines()):
        try:
            return int(json.loads(line).get("epoch", 0))
        except ValueError:  # a line cut short when the process writing it died
            continue
    return 0
