"""A Hugging Face transformers.Trainer on every Ray Train worker (`train.loop.kind: hf_trainer`).

Imported only for that loop kind: transformers is an optional dependency
(`raylight[transformers]`).

Raylight builds the model with model.builder (so that serving rebuilds the same module), the
TrainingArguments from the spec, and this worker's Ray Data shards as batches; the user's
factory puts them into a Trainer with whatever else it wants (compute_metrics, callbacks, a
Trainer subclass). Ray's transformers integration (`prepare_trainer`) makes the Trainer read the
Ray Data iterables. A callback reports each epoch's evaluation to Ray Train with a checkpoint
holding the Trainer's own checkpoint (weights, optimizer, scheduler, scaler, RNG and step: what
`resume_from_checkpoint` needs) and Raylight's servable files.
"""

from __future__ import annotations

import inspect
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import ray.train
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from raylight.components import resolve
from raylight.errors import ComponentError
from raylight.preprocessing.model_io import model_inputs_of
from raylight.runs.checkpoints import save_servable
from raylight.runs.pretrained import build_model
from raylight.spec.train import HfTrainerLoop, TrainSpec
from raylight.training.faults import install_pause_after_report
from raylight.training.loops import LoopSetup, WorkerPlan
from raylight.training.loops.config import LoopConfig
from raylight.training.loops.shards import shuffle_options
from raylight.training.optimization import steps_per_epoch

HF_CHECKPOINT = "hf_checkpoint"  # the Trainer's checkpoint directory inside Ray's checkpoint
# The optimizers the spec may name for this kind (spec.train.HfTrainerLoop refuses others).
OPTIMIZER = {"adamw": "adamw_torch", "sgd": "sgd"}
FACTORY_ARGS = ("model", "args", "train_dataset", "eval_dataset", "config")
EVAL_BATCH_SIZE = 256


def build_worker_plan(setup: LoopSetup) -> WorkerPlan:
    return WorkerPlan(train_fn_hf, setup.loop_config().to_dict())


def train_fn_hf(config: dict[str, Any]) -> None:
    """The Ray Train entry point: the user's Trainer on this worker, in Ray's process group."""
    from ray.train.huggingface.transformers import prepare_trainer

    loop_config = LoopConfig.from_dict(config)
    install_pause_after_report()  # tests only: see raylight.training.faults
    spec = loop_config.spec
    loop = spec.train.loop
    assert isinstance(loop, HfTrainerLoop)
    preprocessing = loop_config.preprocessing
    world_size = ray.train.get_context().get_world_size()
    epoch_steps = steps_per_epoch(
        loop_config.train_rows,
        world_size,
        spec.train.batch_size,
        spec.train.accumulate_grad_batches,
    )
    model = build_model(spec.model, preprocessing.model_inputs(), loop_config.pretrained)
    output_dir = tempfile.mkdtemp(prefix="raylight-hf-")
    factory_inputs = {
        "model": model,
        "args": training_arguments(spec.train, epoch_steps, output_dir),
        "train_dataset": shard_batches("train", spec.train, shuffle=True),
        "eval_dataset": shard_batches("val", spec.train, shuffle=False),
        "config": {
            **loop.config,
            **preprocessing.model_inputs(),
        },
    }
    trainer = call_factory(loop.trainer, factory_inputs)
    trainer.add_callback(ReportEpochs(loop_config, epoch_steps))
    trainer = prepare_trainer(trainer)
    try:
        checkpoint = ray.train.get_checkpoint()  # after a worker restart or a resumed run
        if checkpoint is None:
            trainer.train()
            return
        with checkpoint.as_directory() as directory:
            trainer.train(resume_from_checkpoint=str(Path(directory) / HF_CHECKPOINT))
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)


def training_arguments(train: TrainSpec, epoch_steps: int, output_dir: str) -> TrainingArguments:
    """The spec as TrainingArguments; steps, not epochs: Ray Data shards have no length.

    The spec fields this kind cannot honour were refused at validation (HfTrainerLoop.refusals).
    """
    warmup_steps = round(train.lr_schedule.warmup_epochs * epoch_steps)
    return TrainingArguments(
        output_dir=output_dir,
        max_steps=train.epochs * epoch_steps,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=EVAL_BATCH_SIZE,
        learning_rate=train.optimizer.lr,
        weight_decay=train.optimizer.weight_decay,
        optim=OPTIMIZER[train.optimizer.name],
        optim_args=f"momentum={train.optimizer.momentum}"
        if train.optimizer.name == "sgd"
        else None,
        **lr_schedule_arguments(train, warmup_steps),
        warmup_steps=warmup_steps,
        gradient_accumulation_steps=train.accumulate_grad_batches,
        max_grad_norm=train.gradient_clip_norm or 0.0,
        seed=train.seed,
        eval_strategy="steps",
        eval_steps=epoch_steps,
        save_strategy="steps",
        save_steps=epoch_steps,
        logging_strategy="steps",
        logging_steps=epoch_steps,
        save_total_limit=1,  # the local copy; Ray Train keeps the run's checkpoints
        report_to="none",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        ddp_find_unused_parameters=False,
        bf16=train.precision == "bf16",
        fp16=train.precision == "fp16",
    )


def lr_schedule_arguments(train: TrainSpec, warmup_steps: int) -> dict[str, Any]:
    """train.lr_schedule as the Trainer's scheduler names (warm-up is the Trainer's own)."""
    schedule = train.lr_schedule
    if schedule.name == "constant":
        return {"lr_scheduler_type": "constant_with_warmup" if warmup_steps else "constant"}
    if schedule.name == "cosine" and schedule.min_lr_ratio:
        return {
            "lr_scheduler_type": "cosine_with_min_lr",
            "lr_scheduler_kwargs": {"min_lr_rate": schedule.min_lr_ratio},
        }
    if schedule.name in ("cosine", "linear") and not schedule.min_lr_ratio:
        return {"lr_scheduler_type": schedule.name}
    raise AssertionError(f"train.lr_schedule {schedule} passed validation for hf_trainer")


def shard_batches(split: str, train: TrainSpec, *, shuffle: bool) -> Any:
    """This worker's shard as Ray Data torch batches: the named model inputs and `labels`.

    `labels` is Hugging Face's name: the Trainer passes every key to the model's forward, so a
    text model gets input_ids, attention_mask and labels, as a `...ForSequenceClassification`
    takes them.
    """
    # One iterable for the whole run: the Trainer re-iterates it each epoch, same seed.
    options = shuffle_options(train, epoch=0) if shuffle else {}
    return ray.train.get_dataset_shard(split).iter_torch_batches(
        batch_size=train.batch_size if split == "train" else EVAL_BATCH_SIZE,
        collate_fn=_hf_batch,
        **options,
    )


def _hf_batch(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    inputs = {name: torch.as_tensor(value) for name, value in model_inputs_of(batch).items()}
    return {**inputs, "labels": torch.as_tensor(batch["label"])}


def call_factory(reference: str, inputs: dict[str, Any]) -> Trainer:
    """Call the user's factory with the inputs its signature names; it must return a Trainer."""
    factory = resolve(reference, "train.loop.trainer")
    parameters = inspect.signature(factory).parameters
    unknown = [
        name
        for name, p in parameters.items()
        if name not in FACTORY_ARGS
        and p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if unknown:
        raise ComponentError(
            f"train.loop.trainer {reference!r} requires {unknown}; Raylight passes "
            f"{', '.join(FACTORY_ARGS)}."
        )
    trainer = factory(**{name: value for name, value in inputs.items() if name in parameters})
    if not isinstance(trainer, Trainer):
        raise ComponentError(
            f"train.loop.trainer {reference!r} returned a {type(trainer).__name__}, not a "
            "transformers.Trainer."
        )
    return trainer


class ReportEpochs(TrainerCallback):
    """After each save (each epoch, right after its evaluation): report to Ray Train.

    The Trainer gathers evaluation over all ranks, so `val_*` (its `eval_*`, renamed to the
    names the other loops use) is the whole validation split on every rank.
    """

    def __init__(self, config: LoopConfig, epoch_steps: int) -> None:
        self.config = config
        self.epoch_steps = epoch_steps

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        metrics = epoch_metrics(state.log_history, state.global_step // self.epoch_steps)
        with tempfile.TemporaryDirectory() as directory:
            checkpoint = None
            if state.is_world_process_zero:
                source = get_last_checkpoint(args.output_dir)
                shutil.copytree(source, Path(directory) / HF_CHECKPOINT)
                run_id = ray.train.get_context().get_experiment_name()
                meta = self.config.checkpoint_meta(metrics, run_id)
                save_servable(Path(directory), kwargs["model"], meta)
                checkpoint = ray.train.Checkpoint.from_directory(directory)
            ray.train.report(metrics, checkpoint=checkpoint)


def epoch_metrics(log_history: list[dict[str, Any]], epoch: int) -> dict[str, float]:
    """The last evaluation and training log, in Raylight's names (val_*, train_loss, lr)."""
    metrics: dict[str, float] = {"epoch": float(epoch)}
    for log in log_history:
        for name, value in log.items():
            if not isinstance(value, int | float) or name in ("epoch", "step"):
                continue
            if name.startswith("eval_"):
                if name.endswith(("_runtime", "_per_second")):
                    continue
                metrics[f"val_{name.removeprefix('eval_')}"] = float(value)
            elif name == "loss":
                metrics["train_loss"] = float(value)
            elif name == "learning_rate":
                metrics["lr"] = float(value)
    return metrics
