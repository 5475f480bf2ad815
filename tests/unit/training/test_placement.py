"""Where a run's workers landed: the description, and the record kept in the run directory."""

from __future__ import annotations

from pathlib import Path

from raylight.training.placement import PLACEMENT_FILE, Placement, _append, read_placements


def test_placement_describes_workers_per_node() -> None:
    spread = Placement(("b" * 56, "a" * 56))
    assert spread.describe() == "2 workers on 2 node(s): aaaaaaaa x1, bbbbbbbb x1"
    assert Placement(("c" * 56,) * 3).describe() == "3 workers on 1 node(s): cccccccc x3"


def test_placements_are_kept_in_order_in_the_run_directory(tmp_path: Path) -> None:
    assert read_placements(tmp_path) == []
    first, second = Placement(("a", "b")), Placement(("b", "b"))
    _append(tmp_path / PLACEMENT_FILE, first)
    _append(tmp_path / PLACEMENT_FILE, second)
    assert read_placements(tmp_path) == [first, second]
