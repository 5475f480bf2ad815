"""A sweep's results as plain files: one row per trial, and every trial's epoch-by-epoch history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from raylight.training.progress import METRICS_FILE

if TYPE_CHECKING:
    from raylight.tuning.tuner import TrialSummary

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


def export_history(sweep_path: Path, trials_dir: Path) -> Path:
    """history.csv: one row per trial and epoch, from each trial's metrics.jsonl."""
    rows = []
    for metrics_file in sorted(trials_dir.glob(f"*/{METRICS_FILE}")):
        trial_id = metrics_file.parent.name
        for line in metrics_file.read_text().splitlines():
            if line.strip():
                rows.append({"trial_id": trial_id, **json.loads(line)})
    path = sweep_path / HISTORY_CSV
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
