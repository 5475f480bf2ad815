"""Checkpoint files round-trip, and a checkpoint whose pickle would run code is refused."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from raylight.errors import TargetError
from raylight.runs.checkpoints import (
    META_FILE,
    TRAINING_STATE_FILE,
    CheckpointMeta,
    load_model,
    load_training_state,
    make_servable,
    read_meta,
)
from tests.unit.conftest import PREPROCESSING, SPEC, write_checkpoint


def test_checkpoint_round_trips(tmp_path: Path) -> None:
    original = write_checkpoint(tmp_path)
    model, meta = load_model(tmp_path)
    assert meta.epoch == 3 and meta.parsed_preprocessing == PREPROCESSING
    for a, b in zip(original.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert load_training_state(tmp_path)["epoch"] == 3


def test_directory_without_metadata_is_not_a_checkpoint(tmp_path: Path) -> None:
    write_checkpoint(tmp_path)
    (tmp_path / META_FILE).unlink()
    with pytest.raises(TargetError, match="not a complete Raylight checkpoint"):
        read_meta(tmp_path)


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch /tmp/raylight-pwned",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    write_checkpoint(tmp_path)
    marker = Path("/tmp/raylight-pwned")
    marker.unlink(missing_ok=True)
    with open(tmp_path / TRAINING_STATE_FILE, "wb") as file:
        pickle.dump({"epoch": _RunsCode()}, file)
    with pytest.raises(pickle.UnpicklingError):
        load_training_state(tmp_path)
    assert not marker.exists()


def test_user_loop_weights_become_a_servable_checkpoint(tmp_path: Path) -> None:
    from pipelines.digits.model import build_mlp

    model = build_mlp(3, 2, hidden=8)
    wrapped = {f"module.{k}": v for k, v in model.state_dict().items()}  # saved without unwrap
    torch.save({"model_state_dict": wrapped, "epoch": 3}, tmp_path / "model.pt")
    meta = CheckpointMeta(
        spec=SPEC.model_dump(mode="json"),
        spec_hash="h",
        preprocessing=PREPROCESSING.to_dict(),
        epoch=3,
        metrics={"val_loss": 0.5},
        raylight_version="test",
    )
    make_servable(tmp_path, "model.pt", meta)
    loaded, read = load_model(tmp_path)
    assert read.epoch == 3
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)


def test_weights_that_do_not_fit_the_builders_module_name_the_keys_and_the_file(
    tmp_path: Path,
) -> None:
    from pipelines.digits.model import build_mlp

    other = build_mlp(3, 2, hidden=8).state_dict()  # the loop trained something else
    other = {("head." + k if k.startswith("6.") else k): v for k, v in other.items()}
    torch.save(other, tmp_path / "model.pt")
    meta = CheckpointMeta(SPEC.model_dump(mode="json"), "h", PREPROCESSING.to_dict(), 1, {}, "t")
    make_servable(tmp_path, "model.pt", meta)
    with pytest.raises(TargetError) as refused:
        load_model(tmp_path)
    message = str(refused.value)
    assert str(tmp_path / "model.safetensors") in message
    assert "missing from the file: 6.bias, 6.weight" in message
    assert "in the file but not the module: head.6.bias, head.6.weight" in message


def test_user_loop_weights_that_would_run_code_are_refused(tmp_path: Path) -> None:
    marker = Path("/tmp/raylight-pwned")
    marker.unlink(missing_ok=True)
    with open(tmp_path / "model.pt", "wb") as file:
        pickle.dump({"weight": _RunsCode()}, file)
    meta = CheckpointMeta(SPEC.model_dump(mode="json"), "h", PREPROCESSING.to_dict(), 1, {}, "t")
    with pytest.raises(ValueError, match=r"does not load with torch\.load"):
        make_servable(tmp_path, "model.pt", meta)
    assert not marker.exists()
    assert not (tmp_path / META_FILE).exists()  # never marked servable
    with pytest.raises(ValueError, match=r"no state\.pt in it"):
        make_servable(tmp_path, "state.pt", meta)
