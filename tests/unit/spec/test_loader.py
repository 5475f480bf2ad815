"""Loading a spec file: defaults, problems with their lines and fixes, overrides, YAML typing."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from raylight.errors import SpecError
from raylight.spec import load_spec
from tests.unit.spec.conftest import VALID, problems, write


def test_valid_spec_fills_defaults(tmp_path: Path) -> None:
    loaded = load_spec(write(tmp_path, VALID))
    assert loaded.spec.train.epochs == 10
    assert loaded.spec.resources.num_workers == 2
    assert loaded.spec.serve.host == "127.0.0.1"
    assert loaded.spec.train.metric_mode == "min"
    assert loaded.storage_path == Path("~/raylight_runs").expanduser()


def test_unknown_key_gets_did_you_mean_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "train:\n  epoch: 3\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    (problem,) = caught.value.problems
    assert problem.path == "train.epoch"
    assert "Did you mean 'epochs'?" in problem.message
    assert problem.line == 9
    assert f"{caught.value.source}:9: train.epoch" in str(caught.value)


def test_wrong_type_names_field_and_value(tmp_path: Path) -> None:
    (message,) = problems(write(tmp_path, VALID + "train:\n  epochs: many\n"))
    assert message.startswith("train.epochs:")
    assert "'many'" in message


def test_out_of_range_value_states_bound(tmp_path: Path) -> None:
    (message,) = problems(write(tmp_path, VALID + "resources:\n  cpus_per_worker: 0\n"))
    assert message == "resources.cpus_per_worker: must be > 0.0 (got 0)."


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        VALID
        + "train:\n  epoch: 3\n  metric: val_acc\n"
        + "resources:\n  cpus_per_worker: 0\nserve:\n  prot: 1\n"
    )
    found = problems(write(tmp_path, text))
    assert len(found) == 4
    assert any("Did you mean 'val_accuracy'?" in m for m in found)
    assert any(m.startswith("serve.prot: unknown field. Did you mean 'port'?") for m in found)


def test_wrong_discriminator_lists_allowed_kinds(tmp_path: Path) -> None:
    text = VALID.replace("format: parquet", "format: parquett")
    (message,) = problems(write(tmp_path, text))
    assert message.startswith("data.source: unknown format 'parquett'")
    assert "'parquet', 'csv', 'json', 'image_folder', 'builder'" in message
    assert "Did you mean 'parquet'?" in message


def test_override_problems_point_at_the_override(tmp_path: Path) -> None:
    found = problems(write(tmp_path, VALID), ["train.epochs=0", "trian.epochs=3", "noequals"])
    assert "train.epochs: must be >= 1 (got 0). (set by override train.epochs=0)" in found
    assert any(m.startswith("trian: unknown field. Did you mean 'train'?") for m in found)
    assert any(m.startswith("noequals: an override must look like") for m in found)


def test_overrides_are_typed_like_yaml(tmp_path: Path) -> None:
    loaded = load_spec(
        write(tmp_path, VALID),
        ["train.optimizer.lr=1e-3", "train.epochs=4", "model.kwargs.sizes=[8, 4]"],
    )
    assert loaded.spec.train.optimizer.lr == pytest.approx(0.001)
    assert loaded.spec.train.epochs == 4
    assert loaded.spec.model.kwargs["sizes"] == [8, 4]


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "train: [unclosed\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.problems[0].line is not None
    assert "not valid YAML" in caught.value.problems[0].message


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope.yaml") == ["file not found."]
    assert "must be a YAML mapping" in problems(write(tmp_path, "- a\n- b\n"))[0]


def test_spec_errors_pickle_across_processes(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, VALID + "train:\n  epoch: 3\n"))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.problems == caught.value.problems
    assert str(copy) == str(caught.value)


def test_exponent_floats_are_numbers_in_files_and_overrides(tmp_path: Path) -> None:
    text = VALID.replace(
        "builder: pkg.model:build", "builder: pkg.model:build\n  kwargs: {eps: 1e-6}"
    )
    loaded = load_spec(write(tmp_path, text + "train:\n  optimizer: {lr: 3e-4}\n"))
    assert loaded.spec.model.kwargs["eps"] == pytest.approx(1e-6)
    assert loaded.spec.train.optimizer.lr == pytest.approx(3e-4)


def test_quoted_override_values_stay_strings(tmp_path: Path) -> None:
    loaded = load_spec(write(tmp_path, VALID), ['model.kwargs.tag="1e3"', "model.kwargs.n=1e3"])
    assert loaded.spec.model.kwargs == {"tag": "1e3", "n": 1000.0}
