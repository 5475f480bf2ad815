"""Which run `--resume` continues: the newest one for the spec, and only if it never finished."""

from __future__ import annotations

from pathlib import Path

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
