"""ASHA against plain random search on the digits pipeline: compute to reach the same accuracy.

Both sweeps sample the same configurations (random search seeded with train.seed) and run
in-process trials. Random search runs every trial to the epoch cap; ASHA stops weak ones early.
Compute is counted in trial-epochs, in the order they were reported; the target is the lower
of the two sweeps' best validation accuracies, so both reach it. Not a pass/fail test.

    .venv/bin/python benchmarks/asha_vs_random.py [--trials 32] [--epochs 10]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from raylight.cluster import connect
from raylight.spec import load_spec
from raylight.tuning import TuningResult, run_tuning

ROOT = Path(__file__).resolve().parents[1]
METRIC = "val_accuracy"


def sweep(storage: Path, scheduler: str, trials: int, epochs: int) -> TuningResult:
    loaded = load_spec(
        ROOT / "pipelines" / "digits" / "experiment.yaml",
        [
            f"run.storage_path={storage}",
            "resources.num_workers=0",
            f"train.epochs={epochs}",
            f"tune.num_samples={trials}",
            "tune.max_concurrent_trials=4",
            f"tune.scheduler={scheduler}",
        ],
    )
    return run_tuning(loaded)


def epochs_to_reach(history: pd.DataFrame, target: float) -> int:
    """Trial-epochs reported (all trials, in time order) until one reached `target`."""
    best = history.sort_values("reported_at")[METRIC].cummax().reset_index(drop=True)
    return int((best >= target).idxmax()) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    schedulers = {
        "random (fifo)": "{kind: fifo}",
        "asha": "{kind: asha, grace_period: 1, reduction_factor: 3}",
    }
    histories, configs = {}, {}
    with connect(num_cpus=5, project_root=ROOT), tempfile.TemporaryDirectory() as storage:
        for name, scheduler in schedulers.items():
            result = sweep(Path(storage) / name.split()[0], scheduler, args.trials, args.epochs)
            histories[name] = pd.read_csv(result.history_csv)
            configs[name] = sorted(str(sorted(t.config.items())) for t in result.trials)
    assert configs["random (fifo)"] == configs["asha"], "the sweeps sampled different configs"
    target = min(h[METRIC].max() for h in histories.values())
    print(f"{args.trials} configurations (identical in both sweeps), up to {args.epochs} epochs")
    print(f"target: best {METRIC} both reached = {target:.4f}")
    spent = {}
    for name, history in histories.items():
        spent[name] = epochs_to_reach(history, target)
        print(
            f"{name:<14} best {history[METRIC].max():.4f}  total {len(history):4d} trial-epochs"
            f"  to reach target {spent[name]:4d}"
        )
    print(
        f"ratio random/asha: to target {spent['random (fifo)'] / spent['asha']:.2f}x, "
        f"total {len(histories['random (fifo)']) / len(histories['asha']):.2f}x"
    )


if __name__ == "__main__":
    main()
