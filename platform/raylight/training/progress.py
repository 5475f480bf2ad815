"""Per-epoch progress in the user's terminal.

Ray Train reports reach a controller actor, not the driver. A UserCallback in that controller
(which Ray pins to the driver's node) appends each report to a JSON-lines file in the run
directory; the driver tails it. The file doubles as the run's full metric history, which
Ray's Result keeps only for checkpointed reports.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray.train

METRICS_FILE = "metrics.jsonl"


class MetricsLog(ray.train.UserCallback):
    """Append rank 0's metrics of every report to `path` (runs in the Train controller)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def after_report(
        self,
        run_context: Any,
        metrics: list[dict[str, Any]],
        checkpoint: ray.train.Checkpoint | None,
    ) -> None:
        append_metrics(Path(self.path), metrics[0])


def append_metrics(path: Path, metrics: dict[str, Any]) -> None:
    """One JSON line per epoch: what `follow_metrics` and the sweep's history export read.

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


def format_metrics(metrics: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {int(metrics.get('epoch', 0))}/{epochs}"]
    parts += [f"{k} {v:.4f}" for k, v in metrics.items() if k.startswith(("train_", "val_loss"))]
    if "val_accuracy" in metrics:
        parts.append(f"val_accuracy {metrics['val_accuracy']:.4f}")
    return "  ".join(parts)


@contextmanager
def follow_metrics(
    path: Path, emit: Callable[[dict[str, Any]], None], poll_s: float = 0.25, from_end: bool = False
) -> Iterator[None]:
    """Call `emit` for every line appended to `path` while the block runs.

    `from_end`: skip the lines already there (a resumed run's earlier epochs).
    """
    stop = threading.Event()
    start = path.stat().st_size if from_end and path.is_file() else 0

    def tail() -> None:
        offset = start
        while True:
            finished = stop.wait(poll_s)
            if path.is_file():
                with open(path) as file:
                    file.seek(offset)
                    for line in file:
                        if line.endswith("\n"):
                            emit(json.loads(line))
                            offset += len(line.encode())
            if finished:
                return

    thread = threading.Thread(target=tail, name="raylight-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
