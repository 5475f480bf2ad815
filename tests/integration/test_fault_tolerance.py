"""Every loop kind survives a worker killed for real, then its driver killed for real.

The runs are the session's trained run of each kind (`kills.py`): each was paused after epoch 2
and rank 0 SIGKILLed there, paused after epoch 4 and its driver's process group SIGKILLed
there, then resumed with `raylight train ... --resume`. The same runs are every other test's
trained run of that kind, so they must also reach the kind's accuracy bar.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from raylight.runs.checkpoints import load_model, read_meta
from raylight.runs.weights import weights_digest
from tests.integration.kills import DRIVER_KILL, WORKER_KILL, SurvivedRun

# The managed loop runs in its FSDP form, whose sharded optimizer state is the harder resume.
LOOPS = {  # kind -> the session fixture of its run, the bar its metric must reach, and the
    # name its loop reports the validation loss under (the user's own names for ray_train and
    # lightning, as the pipelines' loops are written)
    "fsdp": ("survived_fsdp", 0.95, "val_loss"),
    "ray_train": ("survived_user_loop", 0.95, "loss"),
    "lightning": ("survived_lightning", 0.95, "val/loss"),
    "accelerate": ("survived_accelerate", 0.93, "val_loss"),
    "hf_trainer": ("survived_hf", 0.95, "val_loss"),
}


@pytest.mark.parametrize("loop", list(LOOPS))
def test_a_run_survives_a_killed_worker_and_then_a_killed_driver(
    loop: str, request: pytest.FixtureRequest
) -> None:
    fixture, bar, loss_name = LOOPS[loop]
    run: SurvivedRun = request.getfixturevalue(fixture)
    assert f"resuming {run.result.run_path}" in run.resumed_output.replace("\n", "")
    epochs = [int(m["epoch"]) for m in run.history]
    print(f"{loop}: epochs reported {epochs}, {run.result.metric} {run.result.metric_value:.4f}")
    # Each restart continued right after the checkpoint of the epoch it was killed at: no epoch
    # is trained twice or skipped.
    last = epochs[-1]
    assert epochs == list(range(1, last + 1)), epochs
    if loop != "lightning":  # the module's EarlyStopping may end it sooner
        assert last == run.loaded.spec.train.epochs
    assert last > DRIVER_KILL
    # Fresh weights would start the loss curve over; restored ones continue it.
    val_loss = {int(m["epoch"]): m[loss_name] for m in run.history}
    for killed_at in (WORKER_KILL, DRIVER_KILL):
        assert val_loss[killed_at + 1] < val_loss[1], (killed_at, val_loss)
    assert run.result.metric_value >= bar  # and the run that went through all that is good
    if loop == "fsdp":  # the managed loop records the digest of the weights it loaded
        run_path = run.result.run_path
        by_epoch = {read_meta(p).epoch: p for p in run_path.glob("checkpoint_*") if p.is_dir()}
        after_driver_kill = read_meta(by_epoch[DRIVER_KILL + 1]).started_from
        assert after_driver_kill is not None and after_driver_kill["epoch"] == DRIVER_KILL
        assert after_driver_kill["weights_sha256"] == checkpoint_digest(by_epoch[DRIVER_KILL])


def checkpoint_digest(checkpoint: Path) -> str:
    """The digest of a checkpoint's weights as the model it was trained for holds them."""
    model, _ = load_model(checkpoint)
    return weights_digest(model)
