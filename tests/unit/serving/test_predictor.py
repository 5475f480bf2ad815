"""A replica's Predictor: what it imports, and on a GPU the answers it gives on the CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from raylight.serving.predictor import Predictor
from tests.unit.conftest import write_checkpoint


def test_the_predictor_imports_neither_ray_train_nor_the_training_driver() -> None:
    """A Serve replica reads a checkpoint through raylight.runs, not the code that trained it."""
    code = (
        "import sys, raylight.serving.predictor; "
        "print(sorted(m for m in sys.modules if m.startswith(('ray.train', 'raylight.training'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_predictions_on_the_gpu_equal_the_cpu_ones(tmp_path: Path) -> None:
    write_checkpoint(tmp_path)
    records = [
        dict(zip(("a", "b", "c"), row, strict=True))
        for row in np.random.default_rng(0).normal(size=(64, 3)).tolist()
    ]
    on_cpu = Predictor(tmp_path, device="cpu")
    on_gpu = Predictor(tmp_path, device="cuda")
    assert next(on_gpu.model.parameters()).device.type == "cuda"
    cpu, gpu = on_cpu.predict(records), on_gpu.predict(records)
    assert [p["label"] for p in gpu] == [p["label"] for p in cpu]  # type: ignore[index]
    np.testing.assert_allclose(
        [p["probability"] for p in gpu],  # type: ignore[index]
        [p["probability"] for p in cpu],  # type: ignore[index]
        atol=1e-4,
    )
