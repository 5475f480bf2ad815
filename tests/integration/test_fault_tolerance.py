"""Every loop kind survives a worker killed for real, then its driver killed for real.

The driver is `raylight train --address` in a subprocess joined to the test session's Ray, as a
user's terminal on a cluster would be. The run pauses after reporting epoch 2 and again after
epoch 4 (`raylight.training.faults`, switched on through `run.env`), so each kill lands at a
known epoch: rank 0 is SIGKILLed at epoch 2 (Ray Train restarts the group from that epoch's
checkpoint), the driver's process group at epoch 4 (its run's actors go with it), and the same
command with `--resume` continues the same run from epoch 4's checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest
import ray
from ray.util.state import list_actors

from raylight.cluster import ClusterInfo
from raylight.runs.checkpoints import load_model, read_meta
from raylight.runs.history import METRICS_FILE
from raylight.runs.weights import weights_digest
from raylight.spec import load_spec
from raylight.training import TrainingResult
from raylight.training.faults import PAUSE_DIR_ENV, PAUSE_EPOCHS_ENV
from tests.conftest import (
    ACCELERATE_SPEC,
    DIGITS_SPEC,
    HF_TRAINER_SPEC,
    LIGHTNING_SPEC,
    USER_LOOP_SPEC,
)
from tests.integration.conftest import FSDP_OVERRIDES
from tests.processes import Background, env_with, raylight, wait_for

# The managed loop runs in its FSDP form, whose sharded optimizer state is the harder resume.
LOOPS = {  # spec, its overrides, the fixture of the same run uninterrupted
    "fsdp": (DIGITS_SPEC, FSDP_OVERRIDES, "trained_fsdp"),
    "ray_train": (USER_LOOP_SPEC, (), "trained_user_loop"),
    "lightning": (LIGHTNING_SPEC, (), "trained_lightning"),
    "accelerate": (ACCELERATE_SPEC, (), "trained_accelerate"),
    "hf_trainer": (HF_TRAINER_SPEC, (), "trained_hf"),
}
TOLERANCE = 0.03  # val_accuracy: the restarted run's shards and shuffles differ from the baseline's
WORKER_KILL, DRIVER_KILL = 2, 4  # the epochs after whose report rank 0 pauses to be killed


def alive_train_workers() -> dict[str, int]:
    """This Ray session's live Ray Train worker actors: id -> pid."""
    actors = list_actors(
        filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")], limit=10_000
    )
    return {actor.actor_id: actor.pid for actor in actors}


def reported(storage: Path) -> list[dict[str, float]]:
    lines: list[str] = []
    for path in storage.glob("*/train-*/" + METRICS_FILE):
        lines += path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def epochs_reported(storage: Path) -> list[int]:
    return [int(metrics["epoch"]) for metrics in reported(storage)]


def paused_at(pauses: Path, epoch: int, storage: Path, driver: Background) -> int:
    """Wait until rank 0 paused after reporting `epoch` and the controller recorded that report.

    Returns rank 0's pid. The pause (raylight.training.faults) holds the run at that epoch
    however fast the machine is: the kill lands there, not wherever a poll happened to see it.
    """
    marker = pauses / f"paused-{epoch}"

    def ready() -> bool:
        assert driver.process.poll() is None, (
            f"driver exited before epoch {epoch}:\n{driver.output}"
        )
        return marker.is_file() and epoch in epochs_reported(storage)

    wait_for(ready, 300, f"the run paused after epoch {epoch}")
    pid: int = json.loads(marker.read_text())["pid"]
    return pid


@pytest.mark.parametrize("loop", list(LOOPS))
def test_a_run_survives_a_killed_worker_and_then_a_killed_driver(
    loop: str, ray_cluster: ClusterInfo, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    spec_path, overrides, baseline_fixture = LOOPS[loop]
    baseline: TrainingResult = request.getfixturevalue(baseline_fixture)  # uninterrupted, same seed
    storage, pauses = tmp_path / "runs", tmp_path / "pauses"
    pause_env = (
        f"{{{PAUSE_DIR_ENV}: '{pauses}', {PAUSE_EPOCHS_ENV}: '{WORKER_KILL},{DRIVER_KILL}'}}"
    )
    command = [
        "train",
        str(spec_path),
        *overrides,
        f"run.storage_path={storage}",
        "run.max_failures=1",
        "run.num_checkpoints_to_keep=20",  # every epoch's, to check which one a restart loaded
        f"run.env={pause_env}",  # every worker of the run gets it, and nothing else
        "--address",
        ray.get_runtime_context().gcs_address,
    ]
    workers_before = set(alive_train_workers())

    def new_workers() -> dict[str, int]:
        return {id_: pid for id_, pid in alive_train_workers().items() if id_ not in workers_before}

    with Background([sys.executable, "-m", "raylight", *command], env_with()) as driver:
        os.kill(paused_at(pauses, WORKER_KILL, storage, driver), signal.SIGKILL)  # rank 0
        # Train restarts the group from the epoch-2 checkpoint; its rank 0 pauses after epoch 4.
        paused_at(pauses, DRIVER_KILL, storage, driver)
        driver.kill()
    # Ray ends a dead driver's actors: nothing of the run is left to race the resumed one.
    wait_for(lambda: not new_workers(), 60, "the killed driver's workers to end")

    resumed = raylight(*command, "--resume")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    (run,) = storage.glob("*/train-*")  # the same run, not a new one
    assert f"resuming {run}" in resumed.stdout.replace("\n", "")  # rich folds long lines
    history = reported(storage)
    epochs = [int(m["epoch"]) for m in history]
    print(f"{loop}: epochs reported {epochs}")
    # Each restart continued right after the checkpoint of the epoch it was killed at: no epoch
    # is trained twice or skipped.
    last = epochs[-1]
    assert epochs == list(range(1, last + 1)), epochs
    if loop != "lightning":  # the module's EarlyStopping may end it sooner
        assert last == load_spec(spec_path, list(overrides)).spec.train.epochs
    assert last > DRIVER_KILL
    # Fresh weights would start the loss curve over; restored ones continue it.
    val_loss = {int(m["epoch"]): m["val_loss"] for m in history}
    for killed_at in (WORKER_KILL, DRIVER_KILL):
        assert val_loss[killed_at + 1] < val_loss[1], (killed_at, val_loss)
    final = float(re.findall(r"trained: \w+ ([0-9.]+)", resumed.stdout)[-1])
    print(f"{loop}: {baseline.metric} {final:.4f}, uninterrupted {baseline.metric_value:.4f}")
    assert abs(final - baseline.metric_value) <= TOLERANCE
    if loop == "fsdp":  # the managed loop records the digest of the weights it loaded
        by_epoch = {read_meta(p).epoch: p for p in run.glob("checkpoint_*") if p.is_dir()}
        after_driver_kill = read_meta(by_epoch[DRIVER_KILL + 1]).started_from
        assert after_driver_kill is not None and after_driver_kill["epoch"] == DRIVER_KILL
        assert after_driver_kill["weights_sha256"] == checkpoint_digest(by_epoch[DRIVER_KILL])


def checkpoint_digest(checkpoint: Path) -> str:
    """The digest of a checkpoint's weights as the model it was trained for holds them."""
    model, _ = load_model(checkpoint)
    return weights_digest(model)
