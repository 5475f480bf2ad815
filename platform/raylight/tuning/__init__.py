"""The tuning layer: Ray Tune sweeps over dotted spec paths; each trial is a Ray Train run."""

from raylight.tuning.tuner import TrialSummary, TuningResult, plan_tuning, run_tuning

__all__ = ["TrialSummary", "TuningResult", "plan_tuning", "run_tuning"]
