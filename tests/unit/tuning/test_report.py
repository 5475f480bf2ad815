"""report.html from synthetic trials (no Ray needed)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd

from raylight.tuning.live import TrialSummary
from raylight.tuning.report import write_report


def trials() -> list[TrialSummary]:
    return [
        TrialSummary("t1", "TERMINATED", {"lr": 0.01, "opt": "adam"}, 0.9, 3),
        TrialSummary("t2", "TERMINATED", {"lr": 0.001, "opt": "sgd"}, 0.7, 1),
        TrialSummary("t3", "ERROR", {"lr": 0.1, "opt": "adam"}, None, 0, error="ValueError: x"),
    ]


def history() -> pd.DataFrame:
    rows = [("t1", e, 0.5 + 0.1 * e, 100.0 + e) for e in (1, 2, 3)] + [("t2", 1, 0.7, 100.5)]
    return pd.DataFrame(rows, columns=["trial_id", "epoch", "val_accuracy", "reported_at"])


def test_report_is_one_self_contained_file_with_every_figure(tmp_path: Path) -> None:
    path = write_report(tmp_path, trials(), history(), "val_accuracy", "max")
    page = path.read_text()
    assert path.name == "report.html"
    images = re.findall(r"<img [^>]*src='([^']+)'", page)
    assert len(images) == 3 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r"(src|href)=['\"]https?:", page)  # opens without a network or server
    assert "Best so far against compute spent" in page
    assert "<td>t1</td><td>terminated</td><td>0.9000</td><td>3</td>" in page
    assert "2 terminated, 1 error" in page


def test_report_without_history_still_lists_the_trials(tmp_path: Path) -> None:
    one_key = [replace(t, config={"lr": t.config["lr"]}) for t in trials()]
    page = write_report(tmp_path, one_key, pd.DataFrame(), "val_accuracy", "max").read_text()
    assert page.count("<img ") == 1  # only the hyperparameter effects remain
    assert "<td>t3</td><td>error</td>" in page
