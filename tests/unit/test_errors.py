"""Every Raylight error survives pickling, as it must to cross from a Ray worker to the driver."""

from __future__ import annotations

import pickle

import pytest

from raylight import errors

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
