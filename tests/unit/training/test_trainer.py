"""The driver's reading of a failed run: the worker's own error line, not Ray's wrapper."""

from __future__ import annotations


def test_failure_cause_finds_the_workers_error_line() -> None:
    from raylight.training.trainer import failure_cause

    class WorkerGroupFailure(Exception):
        def __init__(self) -> None:
            super().__init__("Training failed due to worker errors:\n[Rank 0] ...")
            self.worker_failures = {
                0: RuntimeError(
                    "Traceback (most recent call last):\n  File x\n"
                    "RuntimeError: Trying to create tensor with negative dimension -1"
                )
            }

    assert failure_cause(WorkerGroupFailure()).endswith("negative dimension -1")
    assert failure_cause(ValueError("plain")) == "plain"
