"""Provenance of a run: the project's git commit and the package versions it trained with."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

PROVENANCE_PACKAGES = (
    "raylight",
    "ray",
    "torch",
    "numpy",
    "pandas",
    "pyarrow",
    "safetensors",
    "lightning",
    "accelerate",
)


def git_commit(project_root: Path) -> str | None:
    """The project's commit, with "+dirty" when tracked files changed; None outside git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(project_root), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide what a checkpoint means."""
    versions = {}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
