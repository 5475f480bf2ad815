"""How far a run got, read from its metrics file even when the last line was cut short."""

from __future__ import annotations

from pathlib import Path

from raylight.runs.history import append_metrics, last_epoch


def test_last_epoch_skips_a_line_cut_short(tmp_path: Path) -> None:
    assert last_epoch(tmp_path) == 0
    append_metrics(tmp_path / "metrics.jsonl", {"epoch": 1})
    append_metrics(tmp_path / "metrics.jsonl", {"epoch": 2})
    with open(tmp_path / "metrics.jsonl", "a") as file:
        file.write('{"epoch": 3, "val_lo')  # the writer died mid-line
    assert last_epoch(tmp_path) == 2
