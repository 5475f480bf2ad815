"""The hf_trainer loop's translation of the spec, without Ray: arguments, metrics, factory."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylight.errors import ComponentError
from raylight.spec import load_spec
from raylight.spec.schema import TrainSpec
from raylight.training.loops.hf_trainer import (
    call_factory,
    epoch_metrics,
    training_arguments,
)
from tests.conftest import HF_TRAINER_SPEC


def train_spec(*overrides: str) -> TrainSpec:
    return load_spec(HF_TRAINER_SPEC, list(overrides)).spec.train


def test_the_spec_becomes_training_arguments(tmp_path: Path) -> None:
    train = train_spec(
        "train.precision=bf16",
        "train.gradient_clip_norm=1.0",
        "train.lr_schedule={name: cosine, warmup_epochs: 1, min_lr_ratio: 0.1}",
    )
    args = training_arguments(train, 23, str(tmp_path))
    assert args.max_steps == 12 * 23 and args.eval_steps == args.save_steps == 23
    assert args.learning_rate == 0.002 and args.weight_decay == 0.0001 and args.seed == 0
    assert args.bf16 and not args.fp16 and args.max_grad_norm == 1.0
    assert args.lr_scheduler_type == "cosine_with_min_lr" and args.warmup_steps == 23
    assert args.lr_scheduler_kwargs == {"min_lr_rate": 0.1}
    sgd = train_spec("train.optimizer={name: sgd, lr: 0.05, momentum: 0.9}")
    assert training_arguments(sgd, 23, str(tmp_path)).optim_args == "momentum=0.9"


def test_trainer_logs_become_raylights_metric_names() -> None:
    history = [
        {"loss": 0.9, "learning_rate": 0.002, "grad_norm": 1.2, "epoch": 1.0, "step": 23},
        {"eval_loss": 0.4, "eval_accuracy": 0.91, "eval_runtime": 0.1, "epoch": 1.0},
        {"loss": 0.3, "learning_rate": 0.001, "epoch": 2.0, "step": 46},
        {"eval_loss": 0.2, "eval_accuracy": 0.95, "eval_samples_per_second": 9e3, "epoch": 2.0},
    ]
    assert epoch_metrics(history, 2) == {
        "epoch": 2.0,
        "train_loss": 0.3,
        "lr": 0.001,
        "val_loss": 0.2,
        "val_accuracy": 0.95,
    }


def needs_a_tokenizer(model: object, tokenizer: object) -> object:
    raise AssertionError("never called")


def not_a_trainer(model: object) -> object:
    return model


def test_a_factory_gets_what_it_names_and_must_return_a_trainer() -> None:
    module = __name__
    with pytest.raises(ComponentError, match=r"requires \['tokenizer'\]"):
        call_factory(f"{module}:needs_a_tokenizer", {"model": 1})
    with pytest.raises(ComponentError, match=r"returned a int, not a transformers\.Trainer"):
        call_factory(f"{module}:not_a_trainer", {"model": 1, "args": 2})
