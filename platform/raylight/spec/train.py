"""The `train` section: loop kinds, optimizer, learning-rate schedule, early stopping, metrics."""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from raylight.spec.base import BUILDER_PATTERN, Section
from raylight.spec.problems import suggest

# The metrics Raylight knows, and the direction that makes each one better. The managed loop
# reports those of its task every epoch; any other name is a user loop's own, with train.mode.
METRIC_MODES: dict[str, Literal["min", "max"]] = {
    "val_loss": "min",
    "train_loss": "min",
    "val_accuracy": "max",
    "val_auroc": "max",
    "val_f1": "max",
    "val_mae": "min",
    "val_rmse": "min",
}
CLASSIFICATION_LOSSES = ("cross_entropy",)
MANAGED_METRICS = {  # what the managed loop reports, by train.loss
    "cross_entropy": ("val_loss", "train_loss", "val_accuracy", "val_auroc", "val_f1"),
    "mse": ("val_loss", "train_loss", "val_mae", "val_rmse"),
}
CLASSIFICATION_METRICS = ("val_accuracy", "val_auroc", "val_f1")
METRIC_NAME = r"^[A-Za-z_][\w./:-]*$"  # Lightning's `val/loss` too
# The columns of Raylight's prepared datasets (which ones a run has depends on data.preprocessing).
LOOP_COLUMNS = ("label", "features", "image", "input_ids", "attention_mask")


class OptimizerSpec(Section):
    name: Literal["adamw", "adam", "sgd"] = Field(default="adamw", description="torch.optim class.")
    lr: float = Field(default=1e-3, gt=0, description="Learning rate.")
    weight_decay: float = Field(default=0.0, ge=0, description="Weight decay.")
    momentum: float = Field(default=0.0, ge=0, lt=1, description="Momentum (sgd only).")

    @model_validator(mode="after")
    def _momentum_only_for_sgd(self) -> OptimizerSpec:
        if self.momentum and self.name != "sgd":
            raise ValueError(
                f"train.optimizer.momentum applies to 'sgd' only (optimizer is {self.name!r}); "
                "remove momentum or set train.optimizer.name: sgd."
            )
        return self


class LrScheduleSpec(Section):
    name: Literal["constant", "cosine", "linear", "step"] = Field(
        default="constant",
        description="Learning-rate shape after warm-up, per optimizer step: constant, cosine "
        "(to min_lr_ratio x lr), linear (to min_lr_ratio x lr), or step (x gamma every "
        "step_epochs epochs).",
    )
    warmup_epochs: float = Field(
        default=0.0, ge=0, description="Linear warm-up from ~0 to lr over this many epochs."
    )
    min_lr_ratio: float = Field(
        default=0.0, ge=0, le=1, description="cosine/linear: the final lr as a fraction of lr."
    )
    step_epochs: int = Field(default=1, ge=1, description="step: epochs between decays.")
    gamma: float = Field(default=0.1, gt=0, le=1, description="step: factor at each decay.")


class EarlyStoppingSpec(Section):
    patience: int = Field(
        default=3, ge=1, description="Epochs without improvement of train.metric before stopping."
    )
    min_delta: float = Field(
        default=0.0, ge=0, description="Smallest change of train.metric that counts as better."
    )


# (dotted field under `train`, what to do instead): a field a loop kind would refuse or ignore.
Refusal = tuple[str, str]


def _refuse_set_fields(train: TrainSpec, instead: dict[str, str]) -> list[Refusal]:
    """The fields of `instead` that the spec sets to anything but their default."""
    default = TrainSpec()
    return [
        (path, fix)
        for path, fix in instead.items()
        if attrgetter(path)(train) != attrgetter(path)(default)
    ]


class ManagedLoop(Section):
    kind: Literal["managed"] = Field(
        default="managed",
        description="Raylight's loop: model.builder's nn.Module, train.loss, and everything "
        "else in this section (optimizer, schedule, precision, accumulation, early stopping).",
    )
    package: ClassVar[str | None] = None  # the optional package (and extra) this kind needs

    def refusals(self, train: TrainSpec) -> list[Refusal]:
        """The managed loop honours every train field."""
        return []


class UserFunctionLoop(Section):
    """Fields shared by the kinds that run the user's own function on every worker."""

    @field_validator("datasets", "columns")
    @classmethod
    def _names_are_identifiers(cls, mapping: dict[str, str]) -> dict[str, str]:
        bad = [name for name in mapping if not name.isidentifier()]
        if bad:
            raise ValueError(f"names must be identifiers: {', '.join(map(repr, bad))}")
        return mapping

    @field_validator("columns")
    @classmethod
    def _columns_are_raylights(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = sorted({c for c in columns.values() if c not in LOOP_COLUMNS})
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))} is not a column Raylight produces; map your "
                f"names to {', '.join(LOOP_COLUMNS)}."
            )
        twice = sorted({c for c in columns.values() if list(columns.values()).count(c) > 1})
        if twice:
            raise ValueError(f"{', '.join(map(repr, twice))} is given more than one name")
        return columns

    kind: str
    function: str = Field(
        pattern=BUILDER_PATTERN,
        description="`module:function` run on every worker with one argument, the config dict: "
        "train.loop.config plus epochs, batch_size, lr, weight_decay, seed, num_features, "
        "num_outputs. Datasets 'train' and 'val' have columns 'features' and 'label' (named "
        "as your loop reads them with train.loop.datasets and train.loop.columns).",
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Your own keys, added to the config (tunable as train.loop.config.<key>).",
    )
    datasets: dict[str, Literal["train", "val"]] = Field(
        default_factory=dict,
        description="The names your loop passes to get_dataset_shard -> Raylight's split, e.g. "
        "{train: train, validation: val}. Empty: 'train' and 'val'.",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Your loop's column names -> Raylight's, e.g. {x: features, y: label}. "
        "Raylight's columns: 'label', 'features' (one vector column: a list of floats per row), "
        "'image', 'input_ids', 'attention_mask'. Unmapped ones keep their names.",
    )
    weights_file: str = Field(
        default="model.pt",
        pattern=r"^[\w.-]+\.(pt|pth|safetensors)$",
        description="File in each reported checkpoint holding the model's state_dict "
        "(torch.save or safetensors). Raylight serves it with model.builder's module.",
    )


# What a user's own function does itself: the spec fields it never sees.
_IN_YOUR_FUNCTION = {
    "optimizer.name": "build the optimizer in your loop function (it gets lr and weight_decay "
    "in its config; add your own keys with train.loop.config)",
    "optimizer.momentum": "build the optimizer in your loop function (add your own keys with "
    "train.loop.config)",
    "lr_schedule": "schedule the learning rate in your loop function",
    "gradient_clip_norm": "clip gradients in your loop function",
    "early_stopping": "stop early in your loop function",
    "compile": "call torch.compile in your loop function",
}


class RayTrainLoop(UserFunctionLoop):
    kind: Literal["ray_train"] = Field(
        description="Your own Ray Train loop, unmodified: it calls ray.train.report, "
        "get_checkpoint and get_dataset_shard itself."
    )
    package: ClassVar[str | None] = None

    def refusals(self, train: TrainSpec) -> list[Refusal]:
        return _refuse_set_fields(
            train,
            {
                **_IN_YOUR_FUNCTION,
                "precision": "use torch.autocast in your loop function, or train.loop.kind: "
                "accelerate, which takes train.precision",
                "accumulate_grad_batches": "accumulate in your loop function, or "
                "train.loop.kind: accelerate, which takes train.accumulate_grad_batches",
            },
        )


class AccelerateLoop(UserFunctionLoop):
    kind: Literal["accelerate"] = Field(
        description="Your own loop function using Hugging Face Accelerate (Accelerator(), "
        "prepare, backward, accumulate): it runs like ray_train, and Accelerator() takes "
        "train.precision and train.accumulate_grad_batches from the environment Raylight sets. "
        "Needs `pip install 'raylight[accelerate]'`."
    )
    package: ClassVar[str | None] = "accelerate"

    def refusals(self, train: TrainSpec) -> list[Refusal]:
        return _refuse_set_fields(
            train,
            {
                **_IN_YOUR_FUNCTION,
                "gradient_clip_norm": "call accelerator.clip_grad_norm_ in your loop function",
            },
        )


class LightningLoop(Section):
    kind: Literal["lightning"] = Field(
        description="model.builder returns a LightningModule; Lightning trains it on every worker "
        "through Ray's DDP strategy, with train.epochs, precision, accumulate_grad_batches and "
        "gradient_clip_norm passed to the Trainer. Needs `pip install 'raylight[lightning]'`."
    )
    datamodule: str | None = Field(
        default=None,
        pattern=BUILDER_PATTERN,
        description="`module:function` returning a LightningDataModule that feeds the Trainer "
        "instead of the spec's Ray Data shards (Lightning shards its loaders over the workers). "
        "Called with datamodule_kwargs plus whichever of `preprocessing`, `batch_size`, `seed` "
        "it names; its batches must be the model inputs serving computes, so apply the given "
        "`preprocessing` (FittedPreprocessing.model_batch) to the rows. null: the Ray Data shards.",
    )
    datamodule_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments passed to the datamodule builder."
    )
    package: ClassVar[str | None] = "lightning"

    def refusals(self, train: TrainSpec) -> list[Refusal]:
        optimizer = (
            "configure_optimizers in your LightningModule (pass the values through model.kwargs)"
        )
        return _refuse_set_fields(
            train,
            {
                "optimizer.name": optimizer,
                "optimizer.lr": optimizer,
                "optimizer.weight_decay": optimizer,
                "optimizer.momentum": optimizer,
                "lr_schedule": "return an lr_scheduler from configure_optimizers in your "
                "LightningModule",
                "early_stopping": "an EarlyStopping callback in your LightningModule's "
                "configure_callbacks",
                "compile": "call torch.compile in model.builder or in your LightningModule",
            },
        )


class HfTrainerLoop(Section):
    kind: Literal["hf_trainer"] = Field(
        description="A Hugging Face transformers.Trainer from your factory, on every worker "
        "through Ray's transformers integration. Raylight builds the model (model.builder), the "
        "TrainingArguments from this spec (epochs, batch_size, optimizer lr and weight decay, "
        "lr_schedule, precision, accumulation, clipping, seed; evaluation and a checkpoint "
        "every epoch) and this worker's Ray Data shards as batches of {features, labels}. "
        "Needs `pip install 'raylight[transformers]'`."
    )
    trainer: str = Field(
        pattern=BUILDER_PATTERN,
        description="`module:function` returning a transformers.Trainer; it is called with "
        "whichever of model, args, train_dataset, eval_dataset and config (train.loop.config "
        "plus num_features, num_outputs) it takes.",
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Your own keys for the factory (tunable as train.loop.config.<key>).",
    )
    package: ClassVar[str | None] = "transformers"

    def refusals(self, train: TrainSpec) -> list[Refusal]:
        refused = _refuse_set_fields(
            train,
            {
                "early_stopping": "add transformers.EarlyStoppingCallback to the Trainer in "
                "train.loop.trainer",
                "compile": "set args.torch_compile = True in train.loop.trainer",
            },
        )
        if train.optimizer.name not in ("adamw", "sgd"):
            refused.append(
                (
                    "optimizer.name",
                    "use adamw or sgd, or pass your own optimizer with "
                    "Trainer(optimizers=...) in train.loop.trainer",
                )
            )
        schedule = train.lr_schedule
        if schedule.name == "step" or (schedule.name == "linear" and schedule.min_lr_ratio):
            refused.append(
                (
                    "lr_schedule.name",
                    "the Trainer has constant, cosine (to min_lr_ratio x lr) or linear to 0; "
                    "pass your own scheduler with Trainer(optimizers=...) in train.loop.trainer",
                )
            )
        return refused


TrainLoop = Annotated[
    ManagedLoop | RayTrainLoop | AccelerateLoop | LightningLoop | HfTrainerLoop,
    Field(discriminator="kind"),
]


class TrainSpec(Section):
    loop: TrainLoop = Field(
        default_factory=ManagedLoop,
        description="Which loop trains: managed (Raylight's), ray_train (your function), "
        "accelerate (your function using Accelerate), lightning (your LightningModule) or "
        "hf_trainer (your transformers.Trainer factory).",
    )
    epochs: int = Field(default=10, ge=1, description="Passes over the training split.")
    batch_size: int = Field(default=64, ge=1, description="Rows per step on each worker.")
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec, description="Optimizer.")
    lr_schedule: LrScheduleSpec = Field(
        default_factory=LrScheduleSpec, description="Learning-rate schedule (per step)."
    )
    precision: Literal["32", "bf16", "fp16"] = Field(
        default="32",
        description="32: float32. bf16: autocast to bfloat16 (GPUs and CPUs). fp16: autocast to "
        "float16 with a gradient scaler (GPUs only).",
    )

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_text(cls, value: Any) -> Any:
        """`precision: 32` in YAML (or on the command line) is an int; it means "32"."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    accumulate_grad_batches: int = Field(
        default=1, ge=1, description="Batches whose gradients are summed per optimizer step."
    )
    gradient_clip_norm: float | None = Field(
        default=None, gt=0, description="Clip the gradients' total norm to this; null = off."
    )
    early_stopping: EarlyStoppingSpec | None = Field(
        default=None, description="Stop when train.metric stops improving; null = off."
    )
    compile: bool = Field(
        default=False, description="torch.compile the model (slow first epoch; GPUs mainly)."
    )
    strategy: Literal["ddp", "fsdp"] = Field(
        default="ddp",
        description="How the managed loop spreads the model over workers. ddp: a full copy on "
        "each, gradients all-reduced. fsdp: torch's fully_shard (FSDP2) on each top-level "
        "submodule and the model, so parameters, gradients and optimizer state are sharded "
        "across workers (CPU workers over gloo, GPUs over NCCL). Other loop kinds choose their "
        "own (Lightning's FSDPStrategy, Accelerate's config, TrainingArguments.fsdp).",
    )
    loss: Literal["cross_entropy", "mse"] = Field(
        default="cross_entropy",
        description="cross_entropy: classification (labels become class indices); "
        "mse: regression on a numeric label.",
    )
    metric: str = Field(
        default="val_loss",
        pattern=METRIC_NAME,
        description="Metric that ranks checkpoints and stops early: one the loop reports every "
        "epoch. The managed loop reports val_loss, train_loss and, for cross_entropy, "
        "val_accuracy, val_auroc, val_f1; for mse, val_mae, val_rmse (over the whole validation "
        "split). Your own loop's names work as they are (with train.mode).",
    )
    mode: Literal["min", "max"] | None = Field(
        default=None,
        description="Whether a lower or higher metric is better; null derives it for the names "
        "Raylight knows, and is required for any other.",
    )
    seed: int = Field(default=0, description="Seed for weights and shuffling.")

    @model_validator(mode="after")
    def _mode_fits_metric(self) -> TrainSpec:
        check_mode("train", self.metric, self.mode)
        return self

    @field_validator("metric")
    @classmethod
    def _managed_loop_reports_metric(cls, metric: str, info: ValidationInfo) -> str:
        """The managed loop's names, checked with the field (loop and loss come before it).

        As a field check it is reported with the section's other problems at once.
        """
        loop, loss = info.data.get("loop"), info.data.get("loss")
        if getattr(loop, "kind", None) == "managed" and loss in MANAGED_METRICS:
            check_managed_metric(repr(metric), metric, loss)
        return metric

    @property
    def metric_mode(self) -> Literal["min", "max"]:
        return self.mode or METRIC_MODES[self.metric]


def check_managed_metric(subject: str, metric: str, loss: str) -> None:
    """The managed loop reports a fixed set of names for each loss; `subject` names the field."""
    reported = MANAGED_METRICS[loss]
    if metric in reported:
        return
    if metric in CLASSIFICATION_METRICS:
        raise ValueError(
            f"{subject} needs a classification loss (train.loss: cross_entropy), got "
            f"train.loss {loss!r}."
        )
    # A prefix first (val_acc -> val_accuracy, which plain similarity ranks below val_auroc).
    starts = [name for name in reported if name.startswith(metric)]
    close = starts[0] if starts else suggest(metric, list(reported))
    guess = f" Did you mean {close!r}?" if close else ""
    raise ValueError(
        f"{subject} is not one the managed loop reports; with train.loss {loss!r} it reports "
        f"{', '.join(reported)}.{guess}"
    )


def check_mode(section: str, metric: str, mode: str | None) -> None:
    """A known metric's mode may be left out but not contradicted; any other name needs one."""
    expected = METRIC_MODES.get(metric)
    if expected is None and mode is None:
        raise ValueError(
            f"{section}.metric {metric!r} is not a metric Raylight knows "
            f"({', '.join(METRIC_MODES)}); set {section}.mode: min if lower is better, or max."
        )
    if expected is not None and mode is not None and mode != expected:
        raise ValueError(
            f"{section}.mode {mode!r} ranks the worst results of {metric!r} first; "
            f"use {expected!r} or leave {section}.mode unset."
        )
