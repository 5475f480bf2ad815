"""A pause at a known epoch, for tests that kill a worker or a driver exactly there.

Only tests set these variables (through `run.env`, so that they reach every worker):

    RAYLIGHT_TEST_PAUSE_DIR     a directory the test watches
    RAYLIGHT_TEST_PAUSE_EPOCHS  epochs to pause after, e.g. "2,4"

After rank 0 of a Train run has reported one of those epochs (its checkpoint is in storage), it
writes `paused-<epoch>` (JSON with its pid) into the directory and waits until the test writes
`release-<epoch>`, or kills it. The other ranks stop at the next report, which waits for every
rank. Each epoch pauses once per directory: a restarted group, or a resumed run, that reports
the same epoch again goes on. Without the variables nothing is patched.

Every loop kind reports through `ray.train.report` (Raylight's loops, and the user's own loop
functions), so the pause wraps that function on the worker before the loop starts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PAUSE_DIR_ENV = "RAYLIGHT_TEST_PAUSE_DIR"
PAUSE_EPOCHS_ENV = "RAYLIGHT_TEST_PAUSE_EPOCHS"
MAX_PAUSE_S = 600  # a test that never releases or kills does not hold a worker forever


def install_pause_after_report() -> None:
    """On a Train worker: wrap `ray.train.report` when a test asked for pauses (else nothing)."""
    import ray.train

    directory = os.environ.get(PAUSE_DIR_ENV)
    epochs = {int(e) for e in os.environ.get(PAUSE_EPOCHS_ENV, "").split(",") if e.strip()}
    if not directory or not epochs or getattr(ray.train.report, "pauses", False):
        return
    ray.train.report = pausing(
        ray.train.report, Path(directory), epochs, lambda: ray.train.get_context().get_world_rank()
    )


def pausing(
    report: Callable[..., Any], directory: Path, epochs: set[int], rank: Callable[[], int]
) -> Callable[..., Any]:
    """`report`, then a pause on rank 0 after each epoch in `epochs`."""

    def report_then_pause(metrics: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        result = report(metrics, *args, **kwargs)
        epoch = int(metrics.get("epoch", -1))
        if epoch in epochs and rank() == 0:
            pause(directory, epoch)
        return result

    report_then_pause.pauses = True  # type: ignore[attr-defined]
    return report_then_pause


def pause(directory: Path, epoch: int) -> None:
    """Announce the pause (once per epoch and directory) and wait for the release."""
    marker = directory / f"paused-{epoch}"
    if marker.exists():
        return
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".paused-{epoch}.{os.getpid()}"
    temporary.write_text(json.dumps({"pid": os.getpid(), "epoch": epoch}))
    temporary.replace(marker)
    deadline = time.monotonic() + MAX_PAUSE_S
    while not (directory / f"release-{epoch}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
