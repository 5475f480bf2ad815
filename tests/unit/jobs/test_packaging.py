"""What a submitted job's upload holds: Ray's own traversal, with .gitignore and .rayignore."""

from __future__ import annotations

from pathlib import Path

from raylight.cluster import UPLOAD_EXCLUDES
from raylight.jobs.packaging import too_large_message, uploaded_files


def test_rayignore_gitignore_and_raylights_excludes_keep_files_out(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "model.py").write_text("x = 1\n")
    (tmp_path / "data.bin").write_bytes(b"0" * 2048)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "big.pt").write_bytes(b"0" * 4096)
    (tmp_path / "scratch.tmp").write_text("tmp")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "lib.py").write_text("y = 2\n")
    (tmp_path / ".rayignore").write_text("checkpoints/\n")
    (tmp_path / ".gitignore").write_text("*.tmp\n")

    uploaded = {str(path) for path, _ in uploaded_files(tmp_path, UPLOAD_EXCLUDES)}
    assert "pipelines/model.py" in uploaded and "data.bin" in uploaded
    assert not {"checkpoints/big.pt", "scratch.tmp", ".venv/lib.py"} & uploaded


def test_the_too_large_message_names_the_biggest_files_first(tmp_path: Path) -> None:
    (tmp_path / "small.txt").write_text("a")
    (tmp_path / "large.bin").write_bytes(b"0" * 10_000)
    message = too_large_message(tmp_path, UPLOAD_EXCLUDES)
    assert message.index("large.bin") < message.index("small.txt")
    assert ".rayignore" in message
