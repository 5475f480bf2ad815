"""The sweep's live status line from Tune-like trial objects (no Ray needed)."""

from __future__ import annotations

from types import SimpleNamespace

from raylight.tuning.live import LISTENERS, SweepProgress, listen


def test_status_counts_states_and_finds_the_best_so_far() -> None:
    def trial(trial_id: str, status: str, best: float | None) -> SimpleNamespace:
        analysis = {"val_loss": {"min": best, "max": best + 1}} if best is not None else {}
        return SimpleNamespace(trial_id=trial_id, status=status, metric_analysis=analysis)

    listen(on_trial=None, on_status=None)
    progress = SweepProgress("val_loss", "min", 5)
    status = progress.status(
        [
            trial("a", "RUNNING", 0.4),
            trial("b", "TERMINATED", 0.2),
            trial("c", "PENDING", None),
            trial("d", "TERMINATED", 0.3),
        ],
        now=LISTENERS.started + 12,
    )
    assert status.counts == {"RUNNING": 1, "TERMINATED": 2, "PENDING": 1}
    assert (status.best_value, status.best_trial) == (0.2, "b")
    assert status.total == 5 and round(status.elapsed_s) == 12
