"""Unit tier: pure logic. Starting Ray here is a bug in the test, so ray.init is made to fail."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from raylight.preprocessing.transforms import FittedPreprocessing
from raylight.runs.checkpoints import CheckpointMeta, save_checkpoint
from raylight.spec.schema import Spec, TuneSpec

if TYPE_CHECKING:
    import torch


@pytest.fixture(autouse=True)
def _no_ray_in_unit_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a dependency
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unit tests must not start Ray; move this test to tests/integration")

    monkeypatch.setattr(ray, "init", refuse)


# Builders that tests of more than one package use (plain functions, imported from here).


def spec_with(**sections: object) -> Spec:
    return Spec.model_validate(
        {
            "spec_version": 1,
            "name": "tiny",
            "data": {"source": {"format": "parquet", "path": "x.parquet"}, "label": "y"},
            "model": {"builder": "m:b"},
            **sections,
        }
    )


LR = {"type": "loguniform", "low": 1e-4, "high": 1e-1}


def sweep(search: str, space: dict[str, object], scheduler: dict | None = None) -> TuneSpec:
    extra = {"scheduler": scheduler} if scheduler else {}
    return TuneSpec.model_validate({"search": search, "search_space": space, **extra})


CONDITIONAL_SPACE = {
    "train.optimizer.name": {"type": "choice", "values": ["adamw", "sgd"]},
    "train.optimizer.momentum": {
        "type": "conditional",
        "depends_on": "train.optimizer.name",
        "cases": {"sgd": {"type": "uniform", "low": 0.5, "high": 0.9}},
    },
}


# A one-epoch digits checkpoint on disk (runs.checkpoints, serving.targets, serving.predictor).
SPEC = Spec.model_validate(
    {
        "spec_version": 1,
        "name": "tiny",
        "data": {"source": {"format": "parquet", "path": "x.parquet"}, "label": "y"},
        "model": {"builder": "pipelines.digits.model:build_mlp", "kwargs": {"hidden": 8}},
    }
)
PREPROCESSING = FittedPreprocessing(("a", "b", "c"), "y", "classification", (0, 1))


def write_checkpoint(directory: Path) -> torch.nn.Module:
    import torch

    from pipelines.digits.model import build_mlp

    model = build_mlp(3, 2, hidden=8)
    meta = CheckpointMeta(
        spec=SPEC.model_dump(mode="json"),
        spec_hash="abc",
        preprocessing=PREPROCESSING.to_dict(),
        epoch=3,
        metrics={"val_loss": 0.5},
        raylight_version="test",
    )
    optimizer = torch.optim.AdamW(model.parameters())
    save_checkpoint(directory, model, {"epoch": 3, "optimizer": optimizer.state_dict()}, meta)
    return model
