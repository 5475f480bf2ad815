"""A training run that survives a killed worker and then a killed driver, as a session fixture.

The driver is `raylight train --address` in a subprocess joined to the test session's Ray, as a
user's terminal on a cluster would be. The run pauses after reporting epoch 2 and again after
epoch 4 (`raylight.training.faults`, switched on through `run.env`), so each kill lands at a
known epoch: rank 0 is SIGKILLed at epoch 2 (Ray Train restarts the group from that epoch's
checkpoint), the driver's process group at epoch 4 (its run's actors go with it), and the same
command with `--resume` continues the same run from epoch 4's checkpoint.

Each loop kind's run is trained this way once per session, and it is also that kind's trained
run for every other test (quality, reload, serving): the fault-tolerance run doubles as the
quality run, so no kind trains an uninterrupted baseline as well.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.util.state import list_actors

from raylight.runs.checkpoints import read_meta
from raylight.runs.history import METRICS_FILE
from raylight.runs.records import read_record
from raylight.spec import LoadedSpec, load_spec
from raylight.training import TrainingResult
from raylight.training.faults import PAUSE_DIR_ENV, PAUSE_EPOCHS_ENV
from tests.processes import Background, env_with, raylight, wait_for

WORKER_KILL, DRIVER_KILL = 2, 4  # the epochs after whose report rank 0 pauses to be killed


@dataclass(frozen=True)
class SurvivedRun:
    """The run (as the CLI trained it), what it reported, and the resumed command's output."""

    loaded: LoadedSpec  # the spec with the same overrides: `serve SPEC` finds this run
    result: TrainingResult
    history: list[dict[str, Any]]  # every line of metrics.jsonl, in order
    resumed_output: str


def train_workers(*, alive: bool) -> dict[str, int]:
    """This Ray session's Ray Train worker actors (only the live ones, or all it started): id ->
    pid."""
    filters = [("class_name", "=", "RayTrainWorker")] + ([("state", "=", "ALIVE")] if alive else [])
    return {actor.actor_id: actor.pid for actor in list_actors(filters=filters, limit=10_000)}


def alive_train_workers() -> dict[str, int]:
    return train_workers(alive=True)


def all_train_workers() -> set[str]:
    """Every Ray Train worker actor this Ray session has started, alive or dead: their ids."""
    return set(train_workers(alive=False))


def reported(storage: Path) -> list[dict[str, Any]]:
    lines: list[str] = []
    for path in storage.glob("*/train-*/" + METRICS_FILE):
        lines += path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def paused_at(pauses: Path, epoch: int, storage: Path, driver: Background) -> int:
    """Wait until rank 0 paused after reporting `epoch` and the controller recorded that report.

    Returns rank 0's pid. The pause holds the run at that epoch however fast the machine is:
    the kill lands there, not wherever a poll happened to see it.
    """
    marker = pauses / f"paused-{epoch}"

    def ready() -> bool:
        assert driver.process.poll() is None, f"driver exited early:\n{driver.output}"
        return marker.is_file() and epoch in [int(m["epoch"]) for m in reported(storage)]

    wait_for(ready, 300, f"the run paused after epoch {epoch}")
    pid: int = json.loads(marker.read_text())["pid"]
    return pid


def train_through_kills(
    spec_path: Path, overrides: tuple[str, ...], directory: Path, serve_port: int
) -> SurvivedRun:
    storage, pauses = directory / "runs", directory / "pauses"
    epochs = f"{WORKER_KILL},{DRIVER_KILL}"
    spec_overrides = [
        *overrides,
        f"run.storage_path={storage}",
        "run.max_failures=1",
        "run.num_checkpoints_to_keep=20",  # every epoch's, to check which one a restart loaded
        f"run.env={{{PAUSE_DIR_ENV}: '{pauses}', {PAUSE_EPOCHS_ENV}: '{epochs}'}}",
        f"serve.port={serve_port}",
    ]
    address = ray.get_runtime_context().gcs_address
    command = ["train", str(spec_path), *spec_overrides, "--address", address]
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
    (run_path,) = storage.glob("*/train-*")  # the same run, not a new one
    record = read_record(run_path)
    checkpoint = Path(record.checkpoint_path)
    result = TrainingResult(
        run_path=run_path,
        checkpoint_path=checkpoint,
        metric=record.metric,
        metric_value=record.metric_value,
        metrics=read_meta(checkpoint).metrics,
    )
    return SurvivedRun(
        loaded=load_spec(spec_path, spec_overrides),
        result=result,
        history=reported(storage),
        resumed_output=resumed.stdout,
    )
