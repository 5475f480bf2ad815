"""The experiment spec: one pydantic tree, the only way configuration gets into Raylight.

Every field carries its default and a description (units, what the default means); `raylight schema`
prints the JSON Schema and `raylight validate --explain` the resolved values. Ray objects never
appear here: the layers build them from these sections. This module imports pydantic only.

Each section lives in its own module (base, data, model, train, resources, run, tune, serve); this
root assembles them into `Spec`, checks the rules that span sections, and re-exports every section's
names so that `from raylight.spec.schema import X` works for all of them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from raylight.spec.base import BUILDER_PATTERN, NAME_PATTERN, Section
from raylight.spec.data import (
    BuilderSource,
    CategoricalEncodeStep,
    CsvSource,
    DataSource,
    DataSpec,
    ImageFolderSource,
    ImageStep,
    JsonSource,
    MinMaxStep,
    ParquetSource,
    PreprocessingStep,
    StandardizeStep,
    TokenizeStep,
    ValidationSplit,
    produced_columns,
)
from raylight.spec.model import ModelSpec
from raylight.spec.resources import ResourcesSpec
from raylight.spec.run import RunSpec
from raylight.spec.serve import AutoscalingSpec, ServeSpec
from raylight.spec.train import (
    CLASSIFICATION_LOSSES,
    METRIC_MODES,
    AccelerateLoop,
    EarlyStoppingSpec,
    HfTrainerLoop,
    LightningLoop,
    LrScheduleSpec,
    ManagedLoop,
    OptimizerSpec,
    RayTrainLoop,
    TrainLoop,
    TrainSpec,
    check_managed_metric,
    check_mode,
)
from raylight.spec.tune import (
    AshaScheduler,
    CaseDistribution,
    Choice,
    Conditional,
    Distribution,
    FifoScheduler,
    Grid,
    HyperBandScheduler,
    LogUniform,
    MedianStoppingScheduler,
    PbtScheduler,
    RandInt,
    SchedulerSpec,
    TuneSpec,
    Uniform,
    case_text,
)

__all__ = [
    "BUILDER_PATTERN",
    "CLASSIFICATION_LOSSES",
    "METRIC_MODES",
    "NAME_PATTERN",
    "AccelerateLoop",
    "AshaScheduler",
    "AutoscalingSpec",
    "BuilderSource",
    "CaseDistribution",
    "CategoricalEncodeStep",
    "Choice",
    "Conditional",
    "CsvSource",
    "DataSource",
    "DataSpec",
    "Distribution",
    "EarlyStoppingSpec",
    "FifoScheduler",
    "Grid",
    "HfTrainerLoop",
    "HyperBandScheduler",
    "ImageFolderSource",
    "ImageStep",
    "JsonSource",
    "LightningLoop",
    "LogUniform",
    "LrScheduleSpec",
    "ManagedLoop",
    "MedianStoppingScheduler",
    "MinMaxStep",
    "ModelSpec",
    "OptimizerSpec",
    "ParquetSource",
    "PbtScheduler",
    "PreprocessingStep",
    "RandInt",
    "RayTrainLoop",
    "ResourcesSpec",
    "RunSpec",
    "SchedulerSpec",
    "Section",
    "ServeSpec",
    "Spec",
    "StandardizeStep",
    "TokenizeStep",
    "TrainLoop",
    "TrainSpec",
    "TuneSpec",
    "Uniform",
    "ValidationSplit",
    "case_text",
]


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
        if self.train.loop.kind == "managed":
            check_managed_metric(f"tune.metric {metric!r}", metric, self.train.loss)
        if metric == self.train.metric and self.tune.mode is None:
            return self  # train.mode (or the known one) ranks the trials too
        check_mode("tune", metric, self.tune.mode)
        if metric == self.train.metric and self.tune.mode != self.train.metric_mode:
            raise ValueError(
                f"tune.mode {self.tune.mode!r} contradicts train.mode "
                f"{self.train.metric_mode!r} for the same metric {metric!r}; leave tune.mode unset."
            )
        return self

    @model_validator(mode="after")
    def _loop_columns_exist(self) -> Spec:
        columns = getattr(self.train.loop, "columns", {})
        produced = produced_columns(self.data)
        missing = [f"{yours}: {ours}" for yours, ours in columns.items() if ours not in produced]
        if missing:
            raise ValueError(
                f"train.loop.columns maps {', '.join(missing)}, but this data has only "
                f"{', '.join(produced)} (from data.features and data.preprocessing)."
            )
        # A new name may not land on a column that keeps its own name.
        kept = [c for c in produced if c not in columns.values()]
        clash = [f"{yours}: {ours}" for yours, ours in columns.items() if yours in kept]
        if clash:
            raise ValueError(
                f"train.loop.columns maps {', '.join(clash)} onto a name the data already has "
                "for another column; map that column too, or choose another name."
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
        metric = self.tune_metric
        if self.tune is not None and self.tune.mode is not None:
            return self.tune.mode
        return self.train.metric_mode if metric == self.train.metric else METRIC_MODES[metric]
