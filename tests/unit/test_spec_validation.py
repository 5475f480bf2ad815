from __future__ import annotations

import pickle
import textwrap
from pathlib import Path

import pytest

from raylight.errors import SpecError
from raylight.spec import load_spec
from tests.conftest import DIGITS_SPEC

VALID = """\
spec_version: 1
name: tiny
data:
  source: {format: parquet, path: data.parquet}
  label: y
model:
  builder: pkg.model:build
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path, overrides or [])
    return [p.render() for p in caught.value.problems]


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
    assert "'parquet', 'csv', 'builder'" in message
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


def test_cross_field_check_names_both_fields(tmp_path: Path) -> None:
    text = VALID + "train:\n  loss: mse\n  metric: val_accuracy\n"
    (message,) = problems(write(tmp_path, text))
    assert "train.metric 'val_accuracy'" in message and "train.loss" in message


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "train: [unclosed\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.problems[0].line is not None
    assert "not valid YAML" in caught.value.problems[0].message


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope.yaml") == ["file not found."]
    assert "must be a YAML mapping" in problems(write(tmp_path, "- a\n- b\n"))[0]


SWEEP = (
    VALID
    + """\
tune:
  search_space:
{entries}
"""
)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "    train.optimizer.lrr: {type: loguniform, low: 0.001, high: 0.1}",
            "Did you mean 'lr'?",
        ),
        ("    train.epochs: {type: choice, values: [2, 0]}", "a sampled value 0 is invalid"),
        ("    resources.num_workers: {type: choice, values: [1, 2]}", "only train.* or model.*"),
        ("    train.optimizer.lr: {type: uniform, low: 0.5, high: 0.1}", "low must be < high"),
        ("    train.optimizer.lr: {type: normal, mean: 0}", "unknown type 'normal'"),
    ],
)
def test_invalid_search_space_is_a_spec_error(tmp_path: Path, entry: str, expected: str) -> None:
    found = problems(write(tmp_path, SWEEP.replace("{entries}", entry)))
    assert any(expected in m and m.startswith("tune.search_space") for m in found), found


def test_grid_search_needs_discrete_values(tmp_path: Path) -> None:
    text = SWEEP.replace(
        "{entries}", "    train.optimizer.lr: {type: uniform, low: 0.1, high: 0.5}"
    )
    found = problems(write(tmp_path, text.replace("tune:\n", "tune:\n  search: grid\n")))
    assert any("needs discrete values" in m for m in found)


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


@pytest.mark.parametrize("route", ["/api/", "api", "/a b"])
def test_routes_serve_would_refuse_are_spec_errors(tmp_path: Path, route: str) -> None:
    (message,) = problems(write(tmp_path, VALID + f"serve:\n  route: '{route}'\n"))
    assert message.startswith("serve.route: has the wrong form")


def test_nested_routes_are_fine(tmp_path: Path) -> None:
    loaded = load_spec(write(tmp_path, VALID + "serve:\n  route: /models/digits\n"))
    assert loaded.spec.serve.route == "/models/digits"


def test_every_schema_field_is_described() -> None:
    from raylight.spec import Spec

    schema = Spec.model_json_schema()
    models = {"Spec": schema, **schema["$defs"]}
    undocumented = [
        f"{name}.{field}"
        for name, model in models.items()
        for field, details in model.get("properties", {}).items()
        if not details.get("description")
    ]
    assert undocumented == []


def test_precision_32_may_be_written_as_a_number_and_fp16_needs_gpus() -> None:
    assert load_spec(DIGITS_SPEC, ["train.precision=32"]).spec.train.precision == "32"
    with pytest.raises(SpecError) as raised:
        load_spec(DIGITS_SPEC, ["train.precision=fp16"])
    assert "needs GPUs (resources.gpus_per_worker > 0)" in raised.value.problems[0].message
    gpu = load_spec(DIGITS_SPEC, ["train.precision=fp16", "resources.gpus_per_worker=1"])
    assert gpu.spec.train.precision == "fp16"


def test_user_loop_spec_is_checked_against_tuning() -> None:
    from tests.conftest import USER_LOOP_SPEC

    loop = load_spec(USER_LOOP_SPEC).spec.train.loop
    assert loop.kind == "ray_train" and loop.weights_file == "model.pt"
    assert load_spec(DIGITS_SPEC).spec.train.loop.kind == "managed"  # the default
    with pytest.raises(SpecError, match=r"set resources\.num_workers >= 1"):
        load_spec(USER_LOOP_SPEC, ["resources.num_workers=0"])
    with pytest.raises(SpecError, match="only the managed loop knows how to load"):
        load_spec(USER_LOOP_SPEC, ["tune.scheduler={kind: pbt}"])
    with pytest.raises(SpecError, match="weights_file"):
        load_spec(USER_LOOP_SPEC, ["train.loop.weights_file=model.pkl"])


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


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["train.strategy=fsdp", "resources.num_workers=0"], "set resources.num_workers >= 1"),
        (["train.strategy=fsdp", "train.loop={kind: lightning}"], "Lightning's FSDPStrategy"),
        (["train.strategy=zero3"], "train.strategy"),
    ],
)
def test_fsdp_is_the_managed_loops_and_needs_workers(overrides: list[str], expected: str) -> None:
    assert any(expected in message for message in problems(DIGITS_SPEC, overrides))
    assert load_spec(DIGITS_SPEC, ["train.strategy=fsdp"]).spec.train.strategy == "fsdp"
