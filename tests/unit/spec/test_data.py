"""The data section's validation: a categorical step's problems name their field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.spec.conftest import VALID, problems, write


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("{kind: categorical, columns: [y]}", "the label 'y' cannot be a categorical feature"),
        ("{kind: categorical, columns: [zip]}", "categorical columns ['zip'] are not in"),
        ("{kind: categorical, columns: [a], max_categories: 0}", "max_categories: must be >= 1"),
        ("{kind: categorical, columns: []}", "columns: must not be empty"),
    ],
)
def test_categorical_step_problems_name_the_field(tmp_path: Path, step: str, expected: str) -> None:
    text = VALID.replace(
        "  label: y\n", f"  label: y\n  features: [a, b]\n  preprocessing:\n    - {step}\n"
    )
    (message,) = problems(write(tmp_path, text))
    assert "data.preprocessing" in message and expected in message
