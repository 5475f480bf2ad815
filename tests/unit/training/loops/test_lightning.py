"""The lightning loop without Ray: a datamodule whose hparams hold objects is refused before
training, and the spec's settings reach the Trainer."""

from __future__ import annotations

import pytest

from raylight.errors import ComponentError


def datamodule_with_an_object_hparam(preprocessing: object) -> object:
    import lightning.pytorch as pl

    class Module(pl.LightningDataModule):
        def __init__(self, preprocessing: object, batch_size: int = 8) -> None:
            super().__init__()
            self.save_hyperparameters()

    return Module(preprocessing)


def test_a_datamodule_with_objects_in_its_hparams_is_refused_before_training() -> None:
    from raylight.preprocessing.transforms import FittedPreprocessing
    from raylight.spec import load_spec
    from raylight.training.loops.lightning import fit_data
    from tests.conftest import LIGHTNING_DATAMODULE_SPEC

    builder = "tests.unit.training.loops.test_lightning:datamodule_with_an_object_hparam"
    spec = load_spec(LIGHTNING_DATAMODULE_SPEC, [f"train.loop.datamodule={builder}"]).spec
    fitted = FittedPreprocessing(("a",), "y", "classification", (0, 1))
    with pytest.raises(ComponentError, match=r"hparams \['preprocessing'\] are objects"):
        fit_data(spec, fitted)


def test_precision_accumulation_and_clipping_reach_the_trainer() -> None:
    import lightning.pytorch as pl

    from raylight.spec import load_spec
    from raylight.training.loops.lightning import trainer_settings
    from tests.conftest import LIGHTNING_SPEC

    overrides = [
        "train.precision=bf16",
        "train.accumulate_grad_batches=4",
        "train.gradient_clip_norm=0.5",
        "train.epochs=7",
    ]
    train = load_spec(LIGHTNING_SPEC, overrides).spec.train
    trainer = pl.Trainer(**trainer_settings(train), logger=False, enable_checkpointing=False)
    assert trainer.precision == "bf16-mixed"
    assert trainer.accumulate_grad_batches == 4
    assert trainer.gradient_clip_val == 0.5
    assert trainer.max_epochs == 7
