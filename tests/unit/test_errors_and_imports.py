from __future__ import annotations

import pickle
import subprocess
import sys
import sysconfig

import pytest

from raylight import errors
from tests.conftest import ROOT

ERROR_CLASSES = [
    errors.RaylightError,
    errors.ComponentError,
    errors.DataError,
    errors.TargetError,
    errors.ClusterError,
    errors.RunError,
    errors.JobError,
]


@pytest.mark.parametrize("error_class", ERROR_CLASSES)
def test_every_error_pickles(error_class: type[errors.RaylightError]) -> None:
    error = error_class("resources.num_workers: needs 4 CPUs; the cluster has 2.")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is error_class
    assert str(copy) == str(error)
    assert copy.exit_code == error.exit_code


def test_spec_error_pickles_with_problems() -> None:
    error = errors.SpecError("x.yaml", [errors.Problem("train.epochs", "must be >= 1", 3)])
    copy = pickle.loads(pickle.dumps(error))
    assert copy.problems == error.problems and copy.exit_code == 2


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
