"""Sweep bookkeeping overhead: N sleep-and-report trials against the theoretical minimum.

Theoretical minimum = N x trial time / concurrency. Two sweeps of the same trainable, in one
Ray session: Ray Tune with its defaults plus actor reuse (the baseline), and Tune as Raylight
configures it (seeded searcher, trial directories, checkpoint ranking, progress callback).
Prints each wall time, its ratio to the minimum and the overhead per trial. Not a pass/fail test.

    .venv/bin/python benchmarks/tune_overhead.py [--trials 100] [--concurrency 4] [--trial-s 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from ray import tune

from raylight.cluster import connect
from raylight.spec import load_spec
from raylight.tuning.live import SweepProgress
from raylight.tuning.plan import plan_sweep
from raylight.tuning.tuner import _build_tuner

ROOT = Path(__file__).resolve().parents[1]
REPORTS = 10


def sleep_and_report(config: dict[str, Any], *, trial_s: float) -> None:
    for epoch in range(1, REPORTS + 1):
        time.sleep(trial_s / REPORTS)
        tune.report({"epoch": epoch, "val_accuracy": config.get("train.optimizer.lr", 0.0)})


def plain_tune(trainable: Any, trials: int, concurrency: int, storage: Path) -> tune.Tuner:
    return tune.Tuner(
        trainable,
        param_space={"train.optimizer.lr": tune.loguniform(1e-4, 1e-1)},
        tune_config=tune.TuneConfig(
            num_samples=trials, max_concurrent_trials=concurrency, reuse_actors=True
        ),
        run_config=tune.RunConfig(name="plain", storage_path=str(storage), verbose=0),
    )


def raylight_tune(trainable: Any, trials: int, concurrency: int, storage: Path) -> tune.Tuner:
    loaded = load_spec(
        ROOT / "pipelines" / "digits" / "experiment.yaml",
        [
            f"run.storage_path={storage}",
            "resources.num_workers=0",
            f"tune.num_samples={trials}",
            f"tune.max_concurrent_trials={concurrency}",
            "tune.scheduler={kind: fifo}",
            f"train.epochs={REPORTS}",
        ],
    )
    plan = plan_sweep(loaded.spec, cluster_cpus=concurrency + 1, cluster_gpus=0)
    progress = SweepProgress("val_accuracy", "max", trials)
    return _build_tuner(loaded, trainable, storage / "raylight", plan, progress)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--trial-s", type=float, default=2.0)
    args = parser.parse_args()
    minimum = args.trials * args.trial_s / args.concurrency
    trainable = tune.with_resources(
        tune.with_parameters(sleep_and_report, trial_s=args.trial_s), {"cpu": 1}
    )
    print(
        f"{args.trials} trials x {args.trial_s:g} s, {args.concurrency} at a time: "
        f"theoretical minimum {minimum:.1f} s"
    )
    with connect(num_cpus=args.concurrency + 1, project_root=ROOT):
        for name, build in (("ray tune (baseline)", plain_tune), ("raylight", raylight_tune)):
            with tempfile.TemporaryDirectory() as storage:
                tuner = build(trainable, args.trials, args.concurrency, Path(storage))
                started = time.perf_counter()
                grid = tuner.fit()
                wall = time.perf_counter() - started
            assert len(grid) == args.trials and not grid.errors
            per_trial = (wall - minimum) * args.concurrency / args.trials
            print(
                f"{name:<20} {wall:7.1f} s  ratio {wall / minimum:.2f}x  "
                f"overhead {per_trial:.3f} s per trial (per concurrency slot)"
            )


if __name__ == "__main__":
    main()
