"""What `raylight submit` uploads, and a useful error when Ray refuses it for its size.

Ray zips the job's working dir itself, skipping the `excludes` and whatever `.gitignore` and
`.rayignore` files exclude; the dashboard then refuses an upload over 100 MiB with a bare
"413". This module walks the project with Ray's own traversal (same rules, same Ray version
pinned by pyproject) to say which files made the package big, and how to leave them out.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ray._private.ray_constants import DASHBOARD_CLIENT_MAX_SIZE
from ray._private.runtime_env.packaging import _dir_travel, _get_excludes

logger = logging.getLogger(__name__)
MIB = 1024**2
SHOWN_FILES = 5


def uploaded_files(root: Path, excludes: list[str]) -> list[tuple[Path, int]]:
    """Every file the job upload would hold (relative path, size in bytes), largest first."""
    files: list[tuple[Path, int]] = []

    def add(path: Path) -> None:
        if path.is_file():
            files.append((path.relative_to(root), path.stat().st_size))

    excluded = [_get_excludes(root, excludes)]
    _dir_travel(root, excluded, add, include_gitignore=True, logger=logger)  # quiet: INFO only
    return sorted(files, key=lambda item: item[1], reverse=True)


def too_large_message(root: Path, excludes: list[str]) -> str:
    """The refusal, explained: the biggest files, the total, and the ways to leave them out."""
    files = uploaded_files(root, excludes)
    total = sum(size for _, size in files)
    biggest = "\n".join(f"    {size / MIB:8.1f} MiB  {path}" for path, size in files[:SHOWN_FILES])
    return (
        f"the cluster refused the upload of {root}: Ray accepts at most "
        f"{DASHBOARD_CLIENT_MAX_SIZE / MIB:.0f} MiB (zipped) and these {len(files)} files hold "
        f"{total / MIB:.1f} MiB. The biggest:\n{biggest}\n  Leave data, checkpoints and "
        "environments out of the project directory, or list them in .gitignore or .rayignore "
        "(Raylight also skips .venv, .git, __pycache__ and .data); data the job reads should "
        "live on storage the cluster can reach."
    )


def is_too_large(error_message: str) -> bool:
    return "status code 413" in error_message or "Request Entity Too Large" in error_message
