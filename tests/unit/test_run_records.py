"""Which run `--resume` continues, and how far a run got, read from its files."""

from __future__ import annotations

from pathlib import Path

from raylight.runs.history import append_metrics, last_epoch
from raylight.runs.records import RECORD_FILE, unfinished_run


def test_only_the_newest_run_is_resumed_and_only_if_unfinished(tmp_path: Path) -> None:
    assert unfinished_run(tmp_path, "train-abc") is None
    older, newer = tmp_path / "train-abc-20260101-1", tmp_path / "train-abc-20260102-1"
    other_spec = tmp_path / "train-def-20260103-1"
    for path in (older, newer, other_spec):
        path.mkdir()
    assert unfinished_run(tmp_path, "train-abc") == newer
    (newer / RECORD_FILE).write_text("{}")  # finished: nothing to resume
    assert unfinished_run(tmp_path, "train-abc") is None


def test_last_epoch_skips_a_line_cut_short(tmp_path: Path) -> None:
    assert last_epoch(tmp_path) == 0
    append_metrics(tmp_path / "metrics.jsonl", {"epoch": 1})
    append_metrics(tmp_path / "metrics.jsonl", {"epoch": 2})
    with open(tmp_path / "metrics.jsonl", "a") as file:
        file.write('{"epoch": 3, "val_lo')  # the writer died mid-line
    assert last_epoch(tmp_path) == 2
