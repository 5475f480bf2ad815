"""Every loop kind survives a worker killed for real, then its driver killed for real.

The driver is `raylight train --address` in a subprocess joined to the test session's Ray, as a
user's terminal on a cluster would be. A SIGKILLed worker makes Ray Train restart the group from
the latest checkpoint; a SIGKILLed driver takes its run's actors with it, and the same command
with `--resume` continues the same run from its latest checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import ray
from ray.util.state import list_actors

from raylight.cluster import ClusterInfo
from raylight.runs.checkpoints import read_meta
from raylight.runs.history import METRICS_FILE
from raylight.spec import load_spec
from raylight.training import TrainingResult
from tests.conftest import (
    ACCELERATE_SPEC,
    DIGITS_SPEC,
    HF_TRAINER_SPEC,
    LIGHTNING_SPEC,
    USER_LOOP_SPEC,
)
from tests.integration.conftest import FSDP_OVERRIDES
from tests.processes import Background, env_with, raylight

# The managed loop runs in its FSDP form, whose sharded optimizer state is the harder resume.
LOOPS = {  # spec, its overrides, the fixture of the same run uninterrupted
    "fsdp": (DIGITS_SPEC, FSDP_OVERRIDES, "trained_fsdp"),
    "ray_train": (USER_LOOP_SPEC, (), "trained_user_loop"),
    "lightning": (LIGHTNING_SPEC, (), "trained_lightning"),
    "accelerate": (ACCELERATE_SPEC, (), "trained_accelerate"),
    "hf_trainer": (HF_TRAINER_SPEC, (), "trained_hf"),
}
TOLERANCE = 0.03  # val_accuracy: the restarted run's shards and shuffles differ from the baseline's


def alive_train_workers() -> dict[str, int]:
    """This Ray session's live Ray Train worker actors: id -> pid."""
    actors = list_actors(
        filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")], limit=10_000
    )
    return {actor.actor_id: actor.pid for actor in actors}


def epochs_reported(storage: Path) -> list[int]:
    lines = []
    for path in storage.glob("*/train-*/" + METRICS_FILE):
        lines += path.read_text().splitlines()
    return [int(json.loads(line)["epoch"]) for line in lines if line.endswith("}")]


def wait_until(
    condition: Callable[[], bool], driver: Background, what: str, timeout_s: float = 300
) -> None:
    """Poll fast: a digits epoch takes ~0.5 s, and a kill must land mid-run."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert driver.process.poll() is None, f"driver exited before {what}:\n{driver.output}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{driver.output}"
        time.sleep(0.05)


@pytest.mark.parametrize("loop", list(LOOPS))
def test_a_run_survives_a_killed_worker_and_then_a_killed_driver(
    loop: str, ray_cluster: ClusterInfo, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    spec_path, overrides, baseline_fixture = LOOPS[loop]
    baseline: TrainingResult = request.getfixturevalue(baseline_fixture)  # uninterrupted, same seed
    command = [
        "train",
        str(spec_path),
        *overrides,
        f"run.storage_path={tmp_path}",
        "run.max_failures=1",
        "--address",
        ray.get_runtime_context().gcs_address,
    ]
    workers_before = set(alive_train_workers())

    def new_workers() -> dict[str, int]:
        return {id_: pid for id_, pid in alive_train_workers().items() if id_ not in workers_before}

    driver = Background([sys.executable, "-m", "raylight", *command], env_with())
    try:
        wait_until(lambda: max(epochs_reported(tmp_path), default=0) >= 2, driver, "epoch 2")
        first_group = new_workers()
        os.kill(next(iter(first_group.values())), signal.SIGKILL)
        worker_killed_after = len(epochs_reported(tmp_path))

        # The restarted group (two new workers) reports an epoch; then the driver dies.
        wait_until(
            lambda: (
                len(epochs_reported(tmp_path)) > worker_killed_after
                and len(set(new_workers()) - set(first_group)) == 2
            ),
            driver,
            "an epoch from the restarted group",
        )
        driver.process.kill()
        driver.process.wait(timeout=30)
        driver_killed_after = len(epochs_reported(tmp_path))
    finally:
        driver.process.kill()
    # Ray ends a dead driver's actors: nothing of the run is left to race the resumed one.
    deadline = time.monotonic() + 60
    while new_workers():
        assert time.monotonic() < deadline, "the killed driver's workers lived on"
        time.sleep(0.5)

    resumed = raylight(*command, "--resume")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    (run,) = tmp_path.glob("*/train-*")  # the same run, not a new one
    assert f"resuming {run}" in resumed.stdout.replace("\n", "")  # rich folds long lines
    history = epochs_reported(tmp_path)
    print(
        f"{loop}: worker killed after epoch {history[worker_killed_after - 1]}, driver after "
        f"epoch {history[driver_killed_after - 1]}; epochs reported {history}"
    )
    assert history.count(1) == 1, f"restarted from scratch: {history}"
    # Each restart continued from a checkpoint at most one epoch behind the last report.
    for killed_after in (worker_killed_after, driver_killed_after):
        assert 2 <= history[killed_after] <= history[killed_after - 1] + 1, history
    assert set(history) == set(range(1, history[-1] + 1))
    assert history[-1] > history[driver_killed_after - 1]
    if loop != "lightning":  # the module's EarlyStopping may end it sooner
        assert history[-1] == load_spec(spec_path, list(overrides)).spec.train.epochs
    final = float(re.findall(r"trained: \w+ ([0-9.]+)", resumed.stdout)[-1])
    print(f"{loop}: {baseline.metric} {final:.4f}, uninterrupted {baseline.metric_value:.4f}")
    assert abs(final - baseline.metric_value) <= TOLERANCE
    if loop == "fsdp":  # the managed loop records where a run continued from
        checkpoints = [p for p in run.glob("checkpoint_*") if p.is_dir()]
        latest = max(checkpoints, key=lambda p: read_meta(p).epoch)
        started_from = read_meta(latest).started_from
        assert started_from is not None and started_from["epoch"] >= 2
