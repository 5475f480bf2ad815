"""The `tune` section: search-space distributions, trial schedulers, the sweep itself."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from raylight.spec.base import Section
from raylight.spec.train import METRIC_NAME


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
    metric: str | None = Field(
        default=None,
        pattern=METRIC_NAME,
        description="Metric that ranks trials and drives the scheduler: one the loop reports "
        "every epoch; null = train.metric.",
    )
    mode: Literal["min", "max"] | None = Field(
        default=None,
        description="null: train.mode for train's metric, else derived for the names Raylight "
        "knows; required for any other.",
    )
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
