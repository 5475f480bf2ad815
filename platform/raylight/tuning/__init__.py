"""The tuning layer: Ray Tune sweeps over dotted spec paths; trials are Train runs or in-process."""

from raylight.tuning.live import SweepStatus, TrialSummary
from raylight.tuning.tuner import TuningResult, plan_tuning, run_tuning

__all__ = ["SweepStatus", "TrialSummary", "TuningResult", "plan_tuning", "run_tuning"]
