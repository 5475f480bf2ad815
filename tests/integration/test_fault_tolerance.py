"""A Ray Train worker killed for real: the group restarts and continues from the checkpoint."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from ray.util.state import list_actors

from raylight.spec import load_spec
from raylight.training import TrainingResult, run_training
from raylight.training.checkpoints import read_meta
from raylight.training.progress import METRICS_FILE
from tests.conftest import DIGITS_SPEC, HF_TRAINER_SPEC, LIGHTNING_SPEC, USER_LOOP_SPEC
from tests.integration.conftest import FSDP_OVERRIDES

pytestmark = pytest.mark.ray

# The managed loop is killed in its FSDP form, whose sharded optimizer state is the harder
# resume; its DDP form resumes through the same code after a driver kill (tests/e2e).
LOOPS = {  # spec, its overrides, the fixture of the same run uninterrupted
    "fsdp": (DIGITS_SPEC, FSDP_OVERRIDES, "trained_fsdp"),
    "ray_train": (USER_LOOP_SPEC, (), "trained_user_loop"),
    "lightning": (LIGHTNING_SPEC, (), "trained_lightning"),
    "hf_trainer": (HF_TRAINER_SPEC, (), "trained_hf"),
}
TOLERANCE = 0.03  # val_accuracy: the restarted run's shards and shuffles differ from the baseline's


def train_workers() -> dict[str, int]:
    """Every Ray Train worker actor this Ray session has had, alive or dead: id -> pid."""
    actors = list_actors(filters=[("class_name", "=", "RayTrainWorker")], limit=10_000)
    return {actor.actor_id: actor.pid for actor in actors}


def reported_epochs(storage: Path) -> list[int]:
    lines = []
    for path in storage.glob("*/train-*/" + METRICS_FILE):
        lines += path.read_text().splitlines()
    return [int(json.loads(line)["epoch"]) for line in lines if line.endswith("}")]


@pytest.mark.parametrize("loop", list(LOOPS))
def test_a_killed_worker_restarts_the_group_from_the_latest_checkpoint(
    loop: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    spec_path, overrides, baseline_fixture = LOOPS[loop]
    baseline: TrainingResult = request.getfixturevalue(baseline_fixture)  # uninterrupted, same seed
    loaded = load_spec(
        spec_path, [*overrides, f"run.storage_path={tmp_path}", "run.max_failures=1"]
    )
    epochs = loaded.spec.train.epochs
    workers_before = train_workers()
    outcome: dict[str, TrainingResult | BaseException] = {}

    def train() -> None:
        try:
            outcome["result"] = run_training(loaded)
        except BaseException as error:  # surfaced by the assertion below
            outcome["result"] = error

    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    while not reported_epochs(tmp_path) or max(reported_epochs(tmp_path)) < 2:
        assert time.monotonic() < deadline and thread.is_alive(), "no epoch 2 reported"
        time.sleep(0.05)
    victim = next(pid for id_, pid in train_workers().items() if id_ not in workers_before)
    os.kill(victim, signal.SIGKILL)
    killed_after = max(reported_epochs(tmp_path))
    thread.join(timeout=300)

    result = outcome["result"]
    assert isinstance(result, TrainingResult), result
    assert killed_after < epochs, "the run had finished before the kill"
    assert len(set(train_workers()) - set(workers_before)) == 4  # 2 workers, then 2 new ones
    history = reported_epochs(tmp_path)
    assert history.count(1) == 1, f"restarted from scratch: {history}"  # not again at epoch 1
    last = epochs if loop != "lightning" else max(history)  # the module's EarlyStopping may end it
    assert set(history) == set(range(1, last + 1)) and history[-1] == last > killed_after
    print(
        f"{loop}: killed after epoch {killed_after}; epochs reported {history}; "
        f"{result.metric} {result.metric_value:.4f}, uninterrupted {baseline.metric_value:.4f}"
    )
    assert abs(result.metric_value - baseline.metric_value) <= TOLERANCE
    if loop == "fsdp":  # the managed loop records where a run continued from
        checkpoints = [p for p in result.run_path.glob("checkpoint_*") if p.is_dir()]
        latest = max(checkpoints, key=lambda p: read_meta(p).epoch)
        started_from = read_meta(latest).started_from
        assert started_from is not None and started_from["epoch"] >= 1
