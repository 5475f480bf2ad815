"""The train section's loop-kind rules: every field a kind would refuse or ignore, at validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylight.cli.common import Invocation
from raylight.cli.main import _run
from raylight.errors import SpecError
from raylight.spec import load_spec
from tests.conftest import (
    ACCELERATE_SPEC,
    DIGITS_SPEC,
    HF_TRAINER_SPEC,
    LIGHTNING_SPEC,
    USER_LOOP_SPEC,
)
from tests.unit.spec.conftest import VALID, problems, write

# (spec, override, the field named, a word of the fix): each combination a loop kind refuses.
REFUSED = [
    (HF_TRAINER_SPEC, "train.optimizer.name=adam", "train.optimizer.name", "adamw or sgd"),
    (HF_TRAINER_SPEC, "train.lr_schedule={name: step}", "train.lr_schedule.name", "optimizers="),
    (
        HF_TRAINER_SPEC,
        "train.lr_schedule={name: linear, min_lr_ratio: 0.1}",
        "train.lr_schedule.name",
        "linear to 0",
    ),
    (HF_TRAINER_SPEC, "train.early_stopping={patience: 2}", "train.early_stopping", "Callback"),
    (HF_TRAINER_SPEC, "train.compile=true", "train.compile", "torch_compile"),
    (LIGHTNING_SPEC, "train.optimizer.lr=0.01", "train.optimizer.lr", "configure_optimizers"),
    (LIGHTNING_SPEC, "train.optimizer.name=sgd", "train.optimizer.name", "configure_optimizers"),
    (LIGHTNING_SPEC, "train.lr_schedule={name: cosine}", "train.lr_schedule", "lr_scheduler"),
    (LIGHTNING_SPEC, "train.early_stopping={patience: 2}", "train.early_stopping", "EarlyStop"),
    (LIGHTNING_SPEC, "train.compile=true", "train.compile", "torch.compile"),
    (USER_LOOP_SPEC, "train.precision=bf16", "train.precision", "accelerate"),
    (USER_LOOP_SPEC, "train.accumulate_grad_batches=2", "train.accumulate_grad_batches", "acc"),
    (USER_LOOP_SPEC, "train.optimizer.name=sgd", "train.optimizer.name", "your loop function"),
    (USER_LOOP_SPEC, "train.gradient_clip_norm=1.0", "train.gradient_clip_norm", "clip"),
    (USER_LOOP_SPEC, "train.lr_schedule={name: cosine}", "train.lr_schedule", "schedule"),
    (USER_LOOP_SPEC, "train.early_stopping={patience: 2}", "train.early_stopping", "stop"),
    (USER_LOOP_SPEC, "train.compile=true", "train.compile", "torch.compile"),
    (ACCELERATE_SPEC, "train.gradient_clip_norm=1.0", "train.gradient_clip_norm", "accelerator"),
    (ACCELERATE_SPEC, "train.lr_schedule={name: step}", "train.lr_schedule", "schedule"),
    (ACCELERATE_SPEC, "train.compile=true", "train.compile", "torch.compile"),
]


@pytest.mark.parametrize(
    ("spec", "override", "field", "fix"),
    REFUSED,
    ids=[f"{s.stem}-{o.split('=')[0]}" for s, o, _, _ in REFUSED],
)
def test_validate_refuses_what_the_loop_kind_would_ignore(
    spec: Path, override: str, field: str, fix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["validate", str(spec), override], Invocation()) == 2
    err = capsys.readouterr().err
    assert f"{field}: train.loop.kind" in err and fix in err
    assert "Traceback" not in err


def test_a_refused_field_in_the_file_names_its_line(tmp_path: Path) -> None:
    text = HF_TRAINER_SPEC.read_text().replace("name: adamw", "name: adam")
    spec = tmp_path / "hf.yaml"
    spec.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "name: adam," in t)
    with pytest.raises(SpecError) as error:
        load_spec(spec)
    (problem,) = error.value.problems
    assert (problem.path, problem.line) == ("train.optimizer.name", line)


def test_what_each_kind_uses_is_accepted() -> None:
    load_spec(ACCELERATE_SPEC, ["train.precision=bf16", "train.accumulate_grad_batches=4"])
    load_spec(LIGHTNING_SPEC, ["train.precision=bf16", "train.gradient_clip_norm=1.0"])
    load_spec(HF_TRAINER_SPEC, ["train.optimizer={name: sgd, momentum: 0.9}"])
    load_spec(HF_TRAINER_SPEC, ["train.lr_schedule={name: cosine, min_lr_ratio: 0.1}"])
    load_spec(USER_LOOP_SPEC, ["train.optimizer.lr=0.01", "train.optimizer.weight_decay=0.1"])
    load_spec(DIGITS_SPEC, ["train.compile=true", "train.early_stopping={patience: 2}"])


def test_a_sampled_value_the_kind_refuses_is_a_spec_error(tmp_path: Path) -> None:
    text = LIGHTNING_SPEC.read_text().replace(
        "    model.kwargs.lr:",
        "    train.optimizer.lr: {type: choice, values: [0.01]}\n    model.kwargs.lr:",
    )
    spec = tmp_path / "lightning.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError, match=r"tune.search_space.train.optimizer.lr: a sampled value"):
        load_spec(spec)


def test_a_trials_override_is_checked_like_the_command_line() -> None:
    loaded = load_spec(HF_TRAINER_SPEC)
    with pytest.raises(SpecError, match="adamw or sgd"):
        loaded.with_overrides({"train.optimizer.name": "adam"}, source="trial")


def test_cross_field_check_names_both_fields(tmp_path: Path) -> None:
    text = VALID + "train:\n  loss: mse\n  metric: val_accuracy\n"
    (message,) = problems(write(tmp_path, text))
    assert message.startswith("train.metric: 'val_accuracy'") and "train.loss" in message


@pytest.mark.parametrize(
    ("spec", "overrides", "mode"),
    [
        (USER_LOOP_SPEC, ["train.metric=loss", "train.mode=min"], "min"),
        (LIGHTNING_SPEC, ["train.metric=val/loss", "train.mode=min"], "min"),
        (HF_TRAINER_SPEC, ["train.metric=val_f1"], "max"),  # a name Raylight knows
        (DIGITS_SPEC, ["train.metric=val_auroc"], "max"),
        (DIGITS_SPEC, ["train.loss=mse", "train.metric=val_rmse"], "min"),
    ],
)
def test_any_metric_a_loop_reports_ranks_with_its_mode(
    spec: Path, overrides: list[str], mode: str
) -> None:
    loaded = load_spec(spec, overrides)
    assert loaded.spec.train.metric_mode == mode
    assert loaded.spec.tune_mode == mode  # a sweep ranks by train's metric unless told


@pytest.mark.parametrize(
    ("spec", "overrides", "message"),
    [
        (
            USER_LOOP_SPEC,
            ["train.metric=loss", "train.mode=null"],
            r"'loss' is not a metric Raylight knows .*set train\.mode",
        ),
        (
            USER_LOOP_SPEC,
            ["train.metric=val_loss", "train.mode=max"],
            r"use 'min' or leave train\.mode unset",
        ),
        (DIGITS_SPEC, ["train.metric=loss", "train.mode=min"], r"not one the managed loop reports"),
        (DIGITS_SPEC, ["train.loss=mse", "train.metric=val_auroc"], r"needs a classification loss"),
        (
            USER_LOOP_SPEC,
            ["train.metric=loss", "train.mode=min", "tune.metric=accuracy"],
            r"set tune\.mode",
        ),
        (
            USER_LOOP_SPEC,
            ["train.metric=loss", "train.mode=min", "tune.metric=loss", "tune.mode=max"],
            r"contradicts train\.mode 'min'",
        ),
        (
            DIGITS_SPEC,
            ["tune.metric=val_mae"],
            r"tune\.metric 'val_mae' is not one the managed loop",
        ),
    ],
)
def test_a_metric_without_its_direction_or_against_it_is_a_spec_error(
    spec: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(spec, overrides)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.loop.columns={x: pixels}", r"'pixels' is not a column Raylight produces"),
        ("train.loop.columns={x: image}", r"maps x: image, but this data has only label, features"),
        ("train.loop.columns={x: features, z: features}", r"'features' is given more than one"),
        ("train.loop.datasets={validation: valid}", r"must be one of 'train', 'val'"),
        ('train.loop.datasets={"my-val": val}', r"names must be identifiers"),
        ("train.loop.columns={label: features}", r"maps label: features onto a name the data"),
    ],
)
def test_a_loop_mapping_to_names_raylight_does_not_produce_is_a_spec_error(
    override: str, message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(USER_LOOP_SPEC, [override])


def test_the_shipped_loop_reads_its_own_dataset_and_column_names() -> None:
    loop = load_spec(USER_LOOP_SPEC).spec.train.loop
    assert loop.datasets == {"train": "train", "validation": "val"}
    assert loop.columns == {"x": "features", "y": "label"}
