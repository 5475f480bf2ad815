"""Per-epoch progress in the user's terminal.

Ray Train reports reach a controller actor, not the driver. A UserCallback in that controller
(which Ray pins to the driver's node) appends each report to the run's metrics history
(`raylight.runs.history`); the driver tails that file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray.train

from raylight.runs.history import append_metrics
from raylight.training.polling import polling


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


@contextmanager
def follow_metrics(
    path: Path, emit: Callable[[dict[str, Any]], None], poll_s: float = 0.25, from_end: bool = False
) -> Iterator[None]:
    """Call `emit` for every line appended to `path` while the block runs.

    `from_end`: skip the lines already there (a resumed run's earlier epochs).
    """
    offset = path.stat().st_size if from_end and path.is_file() else 0

    def tail(final: bool) -> bool:
        nonlocal offset
        if path.is_file():
            with open(path) as file:
                file.seek(offset)
                for line in file:
                    if line.endswith("\n"):  # a line still being written waits for next time
                        emit(json.loads(line))
                        offset += len(line.encode())
        return True

    with polling(tail, poll_s=poll_s, name="raylight-progress", join_timeout_s=5):
        yield
