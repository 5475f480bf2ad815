"""A sweep's results as plain files: one row per trial, and every trial's epoch-by-epoch history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from raylight.runs.history import METRICS_FILE

if TYPE_CHECKING:
    from raylight.tuning.live import TrialSummary

TRIALS_CSV = "trials.csv"
HISTORY_CSV = "history.csv"


def export_trials(trials: Sequence[TrialSummary], sweep_path: Path) -> Path:
    """trials.csv: id, status, best metric, epochs, error, logs, and each sampled value."""
    rows = [
        {
            "trial_id": t.trial_id,
            "status": t.status,
            "metric_value": t.metric_value,
            "epochs": t.epochs,
            "error": t.error,
            "log_path": t.log_path,
            **{f"config/{k}": v for k, v in t.config.items()},
        }
        for t in trials
    ]
    path = sweep_path / TRIALS_CSV
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def load_history(trials_dir: Path) -> pd.DataFrame:
    """One row per trial and epoch, from each trial's metrics.jsonl.

    A trial restored from a checkpoint older than its last report (after the driver died, or a
    PBT exploit of a donor that was behind) reports some epochs again; the last report counts.
    """
    rows = []
    for metrics_file in sorted(trials_dir.glob(f"*/{METRICS_FILE}")):
        trial_id = metrics_file.parent.name
        for line in metrics_file.read_text().splitlines():
            if line.strip():
                rows.append({"trial_id": trial_id, **json.loads(line)})
    history = pd.DataFrame(rows)
    if history.empty or "epoch" not in history:
        return history
    return history.drop_duplicates(["trial_id", "epoch"], keep="last").reset_index(drop=True)


def export_history(history: pd.DataFrame, sweep_path: Path) -> Path:
    """history.csv: every trial's epoch-by-epoch metrics."""
    path = sweep_path / HISTORY_CSV
    history.to_csv(path, index=False)
    return path
