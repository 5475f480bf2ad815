"""`import raylight` stays light (no ray, no torch), and `platform/` does not shadow the stdlib."""

from __future__ import annotations

import subprocess
import sys
import sysconfig

from tests.conftest import ROOT


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_import_raylight_loads_neither_ray_nor_torch() -> None:
    out = run_python(
        "import sys, raylight; raylight.load_spec; "
        "print(sorted(m for m in ('ray', 'torch') if m in sys.modules))"
    )
    assert out == "[]"


def test_platform_still_resolves_to_the_stdlib() -> None:
    out = run_python("import platform; print(platform.__file__); platform.system()")
    assert out.startswith(sysconfig.get_paths()["stdlib"])
    assert not (ROOT / "platform" / "__init__.py").exists()
