"""The experiment spec: one pydantic tree, the only way configuration gets into Raylight.

Every field carries its default and a description (units, what the default means); `raylight schema`
prints the JSON Schema and `raylight validate --explain` the resolved values. Ray objects never
appear here: the layers build them from these sections. This module imports pydantic only.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BUILDER_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"

# Metrics the managed training loop reports each epoch, and the direction that makes one "better".
METRIC_MODES: dict[str, Literal["min", "max"]] = {
    "val_loss": "min",
    "train_loss": "min",
    "val_accuracy": "max",
}
CLASSIFICATION_LOSSES = ("cross_entropy",)


class Section(BaseModel):
    """Base of every spec section: unknown keys are errors, values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------- data
class ParquetSource(Section):
    format: Literal["parquet"] = Field(description="Read Parquet with Ray Data.")
    path: str = Field(
        description="Parquet file or directory. Relative paths are relative to the spec file."
    )


class CsvSource(Section):
    format: Literal["csv"] = Field(description="Read CSV with Ray Data.")
    path: str = Field(
        description="CSV file or directory. Relative paths are relative to the spec file."
    )


class BuilderSource(Section):
    format: Literal["builder"] = Field(description="Call a Python function for the data.")
    builder: str = Field(
        pattern=BUILDER_PATTERN,
        description="`module:function` returning a path to a .parquet/.csv file or directory, "
        "or a pandas DataFrame. Imported from the project root.",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments passed to the builder."
    )


DataSource = Annotated[ParquetSource | CsvSource | BuilderSource, Field(discriminator="format")]


class ValidationSplit(Section):
    fraction: float = Field(
        default=0.2, gt=0, lt=1, description="Share of rows held out for validation."
    )
    seed: int = Field(default=0, description="Seed of the shuffle before the split.")


class StandardizeStep(Section):
    kind: Literal["standardize"] = Field(description="(x - mean) / std, fitted on the train split.")
    columns: list[str] | None = Field(
        default=None, description="Columns to standardize; null means every numeric feature."
    )


class MinMaxStep(Section):
    kind: Literal["min_max"] = Field(description="(x - min) / (max - min), fitted on train split.")
    columns: list[str] | None = Field(
        default=None, description="Columns to scale; null means every numeric feature."
    )


class CategoricalEncodeStep(Section):
    kind: Literal["categorical"] = Field(
        description="Integer or string id columns -> vocabulary indices fitted on the train "
        "split, by frequency; index 0 is every unknown value (unseen in training, rare, or "
        "missing), so serving never fails on a new id. The model gets the indices first in "
        "`features` and the table sizes as `categorical_cardinalities`."
    )
    columns: list[str] = Field(min_length=1, description="The id columns to encode.")
    max_categories: int = Field(
        default=100_000,
        ge=1,
        le=2**24 - 1,
        description="Most frequent values kept per column; the rest map to the unknown index.",
    )
    min_frequency: int = Field(
        default=1, ge=1, description="Values seen fewer times in training map to unknown."
    )


PreprocessingStep = Annotated[
    StandardizeStep | MinMaxStep | CategoricalEncodeStep, Field(discriminator="kind")
]


class DataSpec(Section):
    source: DataSource = Field(description="Where the rows come from.")
    label: str = Field(min_length=1, description="Name of the label (target) column.")
    features: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Feature columns: numeric, or integer/string ids that a `categorical` "
        "step encodes; null means every column except the label.",
    )
    validation: ValidationSplit = Field(
        default_factory=ValidationSplit, description="Hold-out split."
    )
    preprocessing: list[PreprocessingStep] = Field(
        default_factory=list,
        description="Steps fitted on the training split, saved with every checkpoint as plain "
        "JSON and re-applied to every request at serving time.",
    )

    @model_validator(mode="after")
    def _label_is_not_a_feature(self) -> DataSpec:
        if self.features is not None and self.label in self.features:
            raise ValueError(
                f"data.label {self.label!r} is also listed in data.features; remove it from "
                "data.features."
            )
        encoded = [
            name
            for step in self.preprocessing
            if isinstance(step, CategoricalEncodeStep)
            for name in step.columns
        ]
        if self.label in encoded:
            raise ValueError(
                f"data.preprocessing: the label {self.label!r} cannot be a categorical feature; "
                "class labels are encoded already."
            )
        if len(set(encoded)) < len(encoded):
            raise ValueError("data.preprocessing: a column is in more than one categorical step.")
        outside = [n for n in encoded if self.features is not None and n not in self.features]
        if outside:
            raise ValueError(
                f"data.preprocessing: categorical columns {outside} are not in data.features; "
                "add them there."
            )
        return self


# -------------------------------------------------------------------------------------- model
class ModelSpec(Section):
    builder: str = Field(
        pattern=BUILDER_PATTERN,
        description="`module:function` returning a torch.nn.Module. If its signature has "
        "`num_features` / `num_outputs` / `categorical_cardinalities`, Raylight passes them "
        "from the data.",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments passed to the builder."
    )


# -------------------------------------------------------------------------------------- train
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


class ManagedLoop(Section):
    kind: Literal["managed"] = Field(
        default="managed",
        description="Raylight's loop: model.builder's nn.Module, train.loss, and everything "
        "else in this section (optimizer, schedule, precision, accumulation, early stopping).",
    )


class RayTrainLoop(Section):
    kind: Literal["ray_train"] = Field(
        description="Your own Ray Train loop, unmodified: it calls ray.train.report, "
        "get_checkpoint and get_dataset_shard itself."
    )
    function: str = Field(
        pattern=BUILDER_PATTERN,
        description="`module:function` run on every worker with one argument, the config dict: "
        "train.loop.config plus epochs, batch_size, lr, weight_decay, seed, num_features, "
        "num_outputs. Datasets 'train' and 'val' have columns 'features' and 'label'.",
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Your own keys, added to the config (tunable as train.loop.config.<key>).",
    )
    weights_file: str = Field(
        default="model.pt",
        pattern=r"^[\w.-]+\.(pt|pth|safetensors)$",
        description="File in each reported checkpoint holding the model's state_dict "
        "(torch.save or safetensors). Raylight serves it with model.builder's module.",
    )


class AccelerateLoop(RayTrainLoop):
    kind: Literal["accelerate"] = Field(  # type: ignore[assignment]
        description="Your own loop function using Hugging Face Accelerate (Accelerator(), "
        "prepare, backward, accumulate): it runs like ray_train, and Accelerator() takes "
        "train.precision and train.accumulate_grad_batches from the environment Raylight sets. "
        "Needs `pip install 'raylight[accelerate]'`."
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
    metric: Literal["val_loss", "val_accuracy", "train_loss"] = Field(
        default="val_loss",
        description="Metric that ranks checkpoints; reported every epoch, averaged over all ranks.",
    )
    mode: Literal["min", "max"] | None = Field(
        default=None, description="Whether a lower or higher metric is better; null derives it."
    )
    seed: int = Field(default=0, description="Seed for weights and shuffling.")

    @model_validator(mode="after")
    def _metric_fits_loss_and_mode(self) -> TrainSpec:
        if self.metric == "val_accuracy" and self.loss not in CLASSIFICATION_LOSSES:
            raise ValueError(
                "train.metric 'val_accuracy' needs a classification loss (train.loss: "
                f"cross_entropy), got train.loss {self.loss!r}."
            )
        expected = METRIC_MODES[self.metric]
        if self.mode is not None and self.mode != expected:
            raise ValueError(
                f"train.mode {self.mode!r} ranks the worst checkpoints of {self.metric!r} first; "
                f"use {expected!r} or leave train.mode unset."
            )
        return self

    @property
    def metric_mode(self) -> Literal["min", "max"]:
        return self.mode or METRIC_MODES[self.metric]


# ---------------------------------------------------------------------------------- resources
class ResourcesSpec(Section):
    num_workers: int = Field(
        default=2,
        ge=0,
        description="Ray Train workers (DDP ranks). 0 = in-process sweep trials: each Tune "
        "trial trains inside its own (reused) trial actor, which holds cpus/gpus_per_worker; no "
        "worker group to start, for small models where start-up would dominate. A plain "
        "`raylight train` of such a spec runs one worker.",
    )
    cpus_per_worker: float = Field(default=1.0, gt=0, description="CPUs reserved per worker.")
    gpus_per_worker: float = Field(
        default=0.0, ge=0, description="GPUs per worker; > 0 trains on GPUs with NCCL."
    )
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = Field(
        default="PACK",
        description="How the workers' placement group lays them over nodes: PACK fills few "
        "nodes (fast collectives), SPREAD spreads them (and after a node dies, packs them on "
        "the rest); STRICT_ variants refuse to start otherwise.",
    )


# ---------------------------------------------------------------------------------------- run
class RunSpec(Section):
    storage_path: str = Field(
        default="~/raylight_runs",
        description="Where runs, checkpoints and sweep results are written. Relative paths "
        "are relative to the spec file; must be shared storage on a multi-node cluster.",
    )
    num_checkpoints_to_keep: int = Field(
        default=2, ge=1, description="Best checkpoints kept per run, ranked by train.metric."
    )
    max_failures: int = Field(
        default=0,
        ge=-1,
        description="Worker-group failures tolerated; each restarts from the latest "
        "checkpoint. -1 retries forever.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables for every Ray worker of the run (and a submitted "
        "job's driver): the job's runtime environment, or the embedded Ray's on this machine.",
    )
    requirements: str | None = Field(
        default=None,
        description="A pip requirements file (relative to the spec) that a submitted job "
        "installs on the cluster in its runtime environment, on top of the cluster's Python. "
        "Not installed for local runs: this machine's environment is used as is.",
    )

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        bad = [name for name in env if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)]
        if bad:
            raise ValueError(f"not environment variable names: {bad}")
        return env


# --------------------------------------------------------------------------------------- tune
def _check_range(distribution: Any) -> Any:
    if not distribution.low < distribution.high:
        raise ValueError(
            f"low must be < high (got low={distribution.low}, high={distribution.high})."
        )
    return distribution


class Uniform(Section):
    type: Literal["uniform"] = Field(description="Any float in [low, high), evenly.")
    low: float = Field(description="Lower bound (inclusive).")
    high: float = Field(description="Upper bound (exclusive).")

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        return _check_range(self)


class LogUniform(Section):
    type: Literal["loguniform"] = Field(description="Floats evenly spread on a log scale.")
    low: float = Field(gt=0, description="Lower bound (inclusive, > 0).")
    high: float = Field(gt=0, description="Upper bound (exclusive).")

    @model_validator(mode="after")
    def _ordered(self) -> LogUniform:
        return _check_range(self)


class RandInt(Section):
    type: Literal["randint"] = Field(description="An integer in [low, high).")
    low: int = Field(description="Lower bound (inclusive).")
    high: int = Field(description="Upper bound (exclusive).")

    @model_validator(mode="after")
    def _ordered(self) -> RandInt:
        return _check_range(self)


class Choice(Section):
    type: Literal["choice"] = Field(description="One of the values, at random.")
    values: list[Any] = Field(min_length=1, description="The candidates.")


class Grid(Section):
    type: Literal["grid"] = Field(description="Every value, each in its own trials.")
    values: list[Any] = Field(min_length=1, description="Every value is tried.")


CaseDistribution = Annotated[Uniform | LogUniform | RandInt | Choice, Field(discriminator="type")]


class Conditional(Section):
    type: Literal["conditional"] = Field(
        description="Sampled only for some values of another search-space key; for any other "
        "value the path keeps its spec value (random and grid search)."
    )
    depends_on: str = Field(
        description="The search-space key it depends on (a choice or grid entry). Not `on`: "
        "YAML reads a bare `on` key as true."
    )
    cases: dict[str, CaseDistribution] = Field(
        min_length=1,
        description="Value of depends_on (as text: sgd, 64, true) -> the distribution used then.",
    )

    @field_validator("cases", mode="before")
    @classmethod
    def _keys_as_text(cls, cases: Any) -> Any:
        """YAML reads `64:` as an int; depends_on values are matched by their text."""
        if isinstance(cases, dict):
            return {case_text(key): value for key, value in cases.items()}
        return cases


def case_text(value: Any) -> str:
    """How a value of a conditional's depends_on key is matched against its cases."""
    return str(value).lower() if isinstance(value, bool) else str(value)


Distribution = Annotated[
    Uniform | LogUniform | RandInt | Choice | Grid | Conditional, Field(discriminator="type")
]


class AshaScheduler(Section):
    kind: Literal["asha"] = Field(description="Async successive halving: stops weak trials early.")
    grace_period: int = Field(
        default=1,
        ge=1,
        description="Epochs before a trial can be stopped (capped at the epoch cap, so a short "
        "run is never stopped early).",
    )
    reduction_factor: float = Field(default=2.0, gt=1, description="Keep 1/reduction_factor.")
    max_t: int | None = Field(default=None, ge=1, description="Epoch cap; null = train.epochs.")


class HyperBandScheduler(Section):
    kind: Literal["hyperband"] = Field(
        description="HyperBand, asynchronous: successive halving in every bracket, from a first "
        "rung of 1 epoch to one of max_t; a trial goes to a bracket at random."
    )
    reduction_factor: float = Field(default=3.0, gt=1, description="Keep 1/reduction_factor.")
    max_t: int | None = Field(default=None, ge=1, description="Epoch cap; null = train.epochs.")


class MedianStoppingScheduler(Section):
    kind: Literal["median"] = Field(
        description="Stops a trial whose best result is below the median of the others' "
        "running averages at the same epoch."
    )
    grace_period: int = Field(default=1, ge=1, description="Epochs before a trial can be stopped.")
    min_samples_required: int = Field(
        default=3, ge=1, description="Trials that must have reached an epoch before comparing."
    )


class PbtScheduler(Section):
    kind: Literal["pbt"] = Field(
        description="Population based training: every perturbation_interval epochs the worst "
        "trials continue from a better trial's checkpoint (weights, optimizer, epoch) with "
        "mutated hyperparameters drawn from search_space."
    )
    perturbation_interval: int = Field(
        default=2, ge=1, description="Epochs between exploit/explore decisions."
    )
    quantile_fraction: float = Field(
        default=0.25,
        gt=0,
        le=0.5,
        description="Share of trials that copy from (top) and are replaced (bottom).",
    )
    resample_probability: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="Chance a mutated value is drawn afresh instead of scaled by 0.8 or 1.2.",
    )
    synch: bool = Field(
        default=False,
        description="Wait for every trial at each perturbation point, then exploit the bottom "
        "quantile (deterministic; needs every trial running at once).",
    )


class FifoScheduler(Section):
    kind: Literal["fifo"] = Field(description="No early stopping: every trial runs to the end.")


SchedulerSpec = Annotated[
    AshaScheduler | HyperBandScheduler | MedianStoppingScheduler | PbtScheduler | FifoScheduler,
    Field(discriminator="kind"),
]


class TuneSpec(Section):
    metric: Literal["val_loss", "val_accuracy", "train_loss"] | None = Field(
        default=None, description="Metric that ranks trials; null = train.metric."
    )
    mode: Literal["min", "max"] | None = Field(default=None, description="null derives it.")
    num_samples: int = Field(
        default=8,
        ge=1,
        description="Trials to sample; with grid values, repeats of the whole grid. Default: 8, "
        "or 1 with search: grid (each combination once).",
    )
    max_concurrent_trials: int | None = Field(
        default=None, ge=1, description="Trials running at once; null = what the cluster fits."
    )
    search: Literal["random", "grid", "optuna", "hyperopt"] = Field(
        default="random",
        description="random: sample num_samples configs (grid entries expand exhaustively); "
        "grid: every entry must be discrete (choice/grid) and all combinations are tried; "
        "optuna (TPE) / hyperopt: model-based search, needs `pip install 'raylight[tune]'`.",
    )
    max_failures: int = Field(
        default=0,
        ge=0,
        description="Retries of a failed trial; its Train run resumes from its latest "
        "checkpoint. A trial that still fails is reported; the sweep goes on.",
    )
    time_budget_s: float | None = Field(
        default=None, gt=0, description="Stop starting and running trials after this many seconds."
    )
    search_space: dict[str, Distribution] = Field(
        min_length=1,
        description="Dotted spec paths (train.optimizer.lr, model.kwargs.hidden) -> "
        "distribution. Each sampled value is validated like a CLI override.",
    )
    scheduler: SchedulerSpec = Field(
        default_factory=lambda: AshaScheduler(kind="asha"), description="Trial scheduler."
    )

    @model_validator(mode="before")
    @classmethod
    def _grid_runs_each_combination_once(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("search") == "grid" and "num_samples" not in data:
            return {**data, "num_samples": 1}
        return data

    @model_validator(mode="after")
    def _conditions_name_discrete_keys(self) -> TuneSpec:
        for key, distribution in self.search_space.items():
            if not isinstance(distribution, Conditional):
                continue
            parent = self.search_space.get(distribution.depends_on)
            if not isinstance(parent, Choice | Grid):
                raise ValueError(
                    f"tune.search_space.{key}: depends_on {distribution.depends_on!r} must name "
                    "another search_space key of type choice or grid."
                )
            known = {case_text(v) for v in parent.values}
            unknown = sorted(set(distribution.cases) - known)
            if unknown:
                raise ValueError(
                    f"tune.search_space.{key}: cases {', '.join(unknown)} are not values of "
                    f"{distribution.depends_on} ({', '.join(sorted(known))})."
                )
        return self

    @model_validator(mode="after")
    def _search_fits_space(self) -> TuneSpec:
        if self.search in ("optuna", "hyperopt"):
            conditional = [k for k, d in self.search_space.items() if isinstance(d, Conditional)]
            if conditional:
                raise ValueError(
                    f"tune.search {self.search!r} cannot sample conditional values "
                    f"({', '.join(conditional)}); use tune.search: random or grid."
                )
            grids = [k for k, d in self.search_space.items() if isinstance(d, Grid)]
            if grids:
                raise ValueError(
                    f"tune.search {self.search!r} samples values itself; {', '.join(grids)} "
                    "use type: grid. Use type: choice, or tune.search: random or grid."
                )
        if self.search == "grid":
            continuous = [
                k
                for k, d in self.search_space.items()
                if not isinstance(d, Choice | Grid | Conditional)
            ]
            if continuous:
                raise ValueError(
                    f"tune.search 'grid' needs discrete values; {', '.join(continuous)} "
                    "use a range. Use type: grid (or choice), or tune.search: random."
                )
        if isinstance(self.scheduler, PbtScheduler):
            grids = [k for k, d in self.search_space.items() if isinstance(d, Grid)]
            if self.search != "random" or grids:
                raise ValueError(
                    "tune.scheduler 'pbt' mutates values drawn from the search space itself: it "
                    "needs tune.search: random and no type: grid entries"
                    + (f" (found {', '.join(grids)})." if grids else f" (found {self.search}).")
                )
        return self


# -------------------------------------------------------------------------------------- serve
class AutoscalingSpec(Section):
    """Serve's request-based autoscaler; the defaults react to a load step within seconds.

    Serve's own defaults (upscale after 30 s, downscale after 600 s, a 30 s window) suit large
    clusters; these suit an endpoint that should follow its traffic.
    """

    min_replicas: int = Field(default=1, ge=0, description="Replicas kept when idle (0 allowed).")
    max_replicas: int = Field(default=2, ge=1, description="Upper bound on replicas.")
    target_ongoing_requests: float = Field(
        default=4, gt=0, description="In-flight requests per replica that autoscaling aims for."
    )
    upscale_delay_s: float = Field(
        default=2.0, ge=0, description="Load must stay above target this long before scaling up."
    )
    downscale_delay_s: float = Field(
        default=30.0, ge=0, description="Load must stay below target this long before scaling down."
    )
    look_back_period_s: float = Field(
        default=10.5,
        gt=10,
        description="Window (s) over which load is averaged; Serve needs more than its 10 s "
        "metrics interval.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"serve.autoscaling.min_replicas ({self.min_replicas}) exceeds max_replicas "
                f"({self.max_replicas})."
            )
        return self


class ServeSpec(Section):
    host: str = Field(
        default="127.0.0.1", description="HTTP bind address; anything else exposes the endpoint."
    )
    port: int = Field(default=8000, ge=1, le=65535, description="HTTP port.")
    route: str = Field(
        default="/",
        pattern=r"^/([\w.-]+(/[\w.-]+)*)?$",
        description="Route prefix: '/' or '/a/b' (no trailing slash, as Serve requires).",
    )
    num_replicas: int = Field(default=1, ge=1, description="Replicas when autoscaling is off.")
    autoscaling: AutoscalingSpec | None = Field(
        default=None, description="Set to scale replicas with load (overrides num_replicas)."
    )
    cpus_per_replica: float = Field(default=0.5, gt=0, description="CPUs reserved per replica.")
    max_batch_size: int = Field(
        default=32,
        ge=1,
        description="Requests gathered into one model call (each may hold several records).",
    )
    batch_wait_timeout_s: float = Field(
        default=0.0,
        ge=0,
        description="How long a batch waits to fill, in seconds. 0: take the requests already "
        "waiting (they pile up while the model runs, so batches form under load without "
        "delaying a lone request).",
    )
    max_records_per_request: int = Field(
        default=1024, ge=1, description="Longer request bodies are refused with 422."
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Larger request bodies are refused with 413."
    )
    request_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A prediction not answered in this time gets 503 with Retry-After.",
    )
    max_ongoing_requests: int | None = Field(
        default=None,
        ge=1,
        description="Requests one replica works on at once (default: 2 x max_batch_size, at "
        "least 8).",
    )
    max_queued_requests: int = Field(
        default=256,
        ge=1,
        description="Requests waiting for a replica beyond which new ones get 503 with "
        "Retry-After (overload), instead of an ever longer queue.",
    )
    gpus_per_replica: float = Field(
        default=0.0, ge=0, description="GPUs per replica; the model runs on the GPU when > 0."
    )
    ingress: Literal["auto", "haproxy", "proxy"] = Field(
        default="auto",
        description="HTTP ingress when Raylight starts Ray: 'haproxy' (Serve's HAProxy ingress, "
        "needs the haproxy binary), 'proxy' (Serve's default proxy), or 'auto' (HAProxy when the "
        "binary is found).",
    )
    auth_token_env: str = Field(
        default="RAYLIGHT_SERVE_TOKEN",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding a bearer token; when it is set, every route "
        "but /healthz needs `Authorization: Bearer <token>`. The token never goes in a spec.",
    )
    allow_public: bool = Field(
        default=False,
        description="Allow a host other than 127.0.0.1/localhost without a token configured.",
    )


# --------------------------------------------------------------------------------------- spec
class Spec(Section):
    spec_version: Literal[1] = Field(description="Version of this schema; always 1 for now.")
    name: str = Field(
        pattern=NAME_PATTERN,
        description="Experiment name: lowercase letters, digits, '-', '_', '.'. Names the run "
        "directories and the Serve application.",
    )
    data: DataSpec = Field(description="What the model learns from.")
    model: ModelSpec = Field(description="What is trained.")
    train: TrainSpec = Field(default_factory=TrainSpec, description="How it is trained.")
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec, description="Workers per run.")
    run: RunSpec = Field(default_factory=RunSpec, description="Storage and fault tolerance.")
    tune: TuneSpec | None = Field(default=None, description="Hyperparameter sweep, if any.")
    serve: ServeSpec = Field(default_factory=ServeSpec, description="HTTP endpoint.")

    @model_validator(mode="after")
    def _precision_fits_devices(self) -> Spec:
        if self.train.precision == "fp16" and self.resources.gpus_per_worker == 0:
            raise ValueError(
                "train.precision 'fp16' needs GPUs (resources.gpus_per_worker > 0); on CPUs "
                "use 'bf16' or '32'."
            )
        return self

    @model_validator(mode="after")
    def _strategy_fits_loop(self) -> Spec:
        if self.train.strategy == "ddp":
            return self
        if self.train.loop.kind != "managed":
            raise ValueError(
                f"train.strategy 'fsdp' is the managed loop's; train.loop.kind "
                f"{self.train.loop.kind!r} shards in its own code (Lightning's FSDPStrategy, "
                "Accelerate's FSDP config, TrainingArguments.fsdp)."
            )
        if self.resources.num_workers == 0:
            raise ValueError(
                "train.strategy 'fsdp' shards over Ray Train workers: set "
                "resources.num_workers >= 1 (0 runs a trial in-process, unsharded)."
            )
        return self

    @model_validator(mode="after")
    def _tune_fits_train(self) -> Spec:
        if self.tune is None:
            return self
        metric = self.tune.metric or self.train.metric
        if metric == "val_accuracy" and self.train.loss not in CLASSIFICATION_LOSSES:
            raise ValueError(
                "tune.metric 'val_accuracy' needs train.loss: cross_entropy "
                f"(got {self.train.loss!r})."
            )
        if self.tune.mode is not None and self.tune.mode != METRIC_MODES[metric]:
            raise ValueError(
                f"tune.mode {self.tune.mode!r} would pick the worst trial by {metric!r}; "
                f"use {METRIC_MODES[metric]!r} or leave tune.mode unset."
            )
        return self

    @model_validator(mode="after")
    def _loop_fits_tune(self) -> Spec:
        if self.train.loop.kind == "managed" or self.tune is None:
            return self
        if self.resources.num_workers == 0:
            raise ValueError(
                f"train.loop.kind {self.train.loop.kind!r} runs on Ray Train workers: set "
                "resources.num_workers >= 1 (0 runs only the managed loop inside a trial)."
            )
        if isinstance(self.tune.scheduler, PbtScheduler):
            raise ValueError(
                f"tune.scheduler pbt hands checkpoints between trials, which only the managed "
                f"loop knows how to load; train.loop.kind {self.train.loop.kind!r} can use asha, "
                "hyperband, median or fifo."
            )
        return self

    @property
    def tune_metric(self) -> str:
        return (self.tune.metric if self.tune and self.tune.metric else None) or self.train.metric

    @property
    def tune_mode(self) -> Literal["min", "max"]:
        return METRIC_MODES[self.tune_metric]
