"""A LightningModule trained by Lightning on every Ray Train worker (`train.loop.kind: lightning`).

Imported only for that loop kind: lightning is an optional dependency (`raylight[lightning]`).

Ray's Lightning integration supplies the DDP strategy and the cluster environment; Raylight
builds the Trainer from the spec (epochs, precision, accumulation, clipping), feeds it the
preprocessed Ray Data shards, and reports each epoch with a checkpoint that holds both the
Lightning checkpoint (for resume, loaded with weights_only=True) and Raylight's servable
files. The module's own callbacks (`configure_callbacks`: ModelCheckpoint, EarlyStopping,
LearningRateMonitor, ...) run as they would without Ray.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import ray.train

from raylight.components import call_builder
from raylight.errors import ComponentError
from raylight.preprocessing.transforms import FittedPreprocessing
from raylight.runs.checkpoints import save_servable
from raylight.runs.pretrained import build_model
from raylight.spec.schema import Spec
from raylight.spec.train import LightningLoop, TrainSpec
from raylight.training.faults import install_pause_after_report
from raylight.training.loops import LoopSetup, WorkerPlan
from raylight.training.loops.config import LoopConfig
from raylight.training.loops.shards import shuffle_options

LIGHTNING_CHECKPOINT = "lightning.ckpt"
PRECISION = {"32": "32-true", "bf16": "bf16-mixed", "fp16": "16-mixed"}


def trainer_settings(train: TrainSpec) -> dict[str, Any]:
    """The spec's training settings as Lightning's Trainer arguments."""
    return {
        "max_epochs": train.epochs,
        "precision": PRECISION[train.precision],
        "accumulate_grad_batches": train.accumulate_grad_batches,
        "gradient_clip_val": train.gradient_clip_norm,
    }


def build_worker_plan(setup: LoopSetup) -> WorkerPlan:
    return WorkerPlan(train_fn_lightning, setup.loop_config().to_dict())


def train_fn_lightning(config: dict[str, Any]) -> None:
    """The Ray Train entry point: one Lightning Trainer per worker, joined by Ray's DDP."""
    from lightning.pytorch.loggers import CSVLogger
    from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment, prepare_trainer

    loop_config = LoopConfig.from_dict(config)
    install_pause_after_report()  # tests only: see raylight.training.faults
    spec = loop_config.spec
    train = spec.train
    preprocessing = loop_config.preprocessing
    pl.seed_everything(train.seed, workers=True, verbose=False)
    module = build_model(spec.model, preprocessing.model_inputs(), loop_config.pretrained)
    if not isinstance(module, pl.LightningModule):
        raise ComponentError(
            f"model.builder {spec.model.builder!r} returned a {type(module).__name__}; "
            "train.loop.kind 'lightning' needs a lightning.pytorch.LightningModule."
        )
    run_path = Path(loop_config.run_path or ".")
    trainer = pl.Trainer(
        **trainer_settings(train),
        accelerator="auto",
        devices="auto",
        strategy=RayDDPStrategy(),
        plugins=[RayLightningEnvironment()],
        callbacks=[ReportToRayTrain(loop_config)],
        default_root_dir=run_path / "lightning",
        logger=CSVLogger(run_path / "lightning", name="logs"),
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
    )
    trainer = prepare_trainer(trainer)
    data = fit_data(spec, preprocessing)
    checkpoint = ray.train.get_checkpoint()  # after a worker restart or a resumed run
    if checkpoint is None:
        trainer.fit(module, **data)
        return
    with checkpoint.as_directory() as directory:
        trainer.fit(
            module,
            **data,
            ckpt_path=str(Path(directory) / LIGHTNING_CHECKPOINT),
            weights_only=True,  # never unpickle arbitrary objects, even from our own storage
        )


def fit_data(spec: Spec, preprocessing: FittedPreprocessing) -> dict[str, Any]:
    """trainer.fit's data: the user's LightningDataModule, or this worker's Ray Data shards.

    A DataModule's loaders get a DistributedSampler from Ray's DDP strategy (Lightning's
    use_distributed_sampler), so each worker trains on its own part, as with the shards.
    """
    train, loop = spec.train, spec.train.loop
    assert isinstance(loop, LightningLoop)
    if loop.datamodule is None:
        return {
            "train_dataloaders": ShardBatches(ray.train.get_dataset_shard("train"), train, True),
            "val_dataloaders": ShardBatches(ray.train.get_dataset_shard("val"), train, False),
        }
    supplied = {"preprocessing": preprocessing, "batch_size": train.batch_size, "seed": train.seed}
    datamodule = call_builder(
        loop.datamodule,
        loop.datamodule_kwargs,
        supplied,
        "train.loop.datamodule",
        "train.loop.datamodule_kwargs",
    )
    if not isinstance(datamodule, pl.LightningDataModule):
        raise ComponentError(
            f"train.loop.datamodule {loop.datamodule!r} returned a {type(datamodule).__name__}, "
            "not a lightning.pytorch.LightningDataModule."
        )
    objects = [name for name, value in dict(datamodule.hparams).items() if not _plain(value)]
    if objects:  # Lightning saves them in every checkpoint; a restart could not load it
        raise ComponentError(
            f"train.loop.datamodule: {type(datamodule).__name__}.hparams {objects} are objects, "
            "not plain values; Lightning stores hparams in each checkpoint and a restart loads "
            f"it with weights_only=True, which refuses them: save_hyperparameters(ignore={objects})"
        )
    return {"datamodule": datamodule}


def _plain(value: Any) -> bool:
    """What a weights_only load accepts in a checkpoint: numbers, text, and lists/dicts of them."""
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return isinstance(value, dict) and all(_plain(k) and _plain(v) for k, v in value.items())


class ShardBatches:
    """This worker's shard as a re-iterable of {"features", "label"} batches, one pass an epoch."""

    def __init__(self, shard: Any, train: TrainSpec, shuffle: bool) -> None:
        self.shard, self.train, self.shuffle = shard, train, shuffle
        self.epoch = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        shuffle = {}
        if self.shuffle:
            self.epoch += 1
            shuffle = shuffle_options(self.train, self.epoch)
        return iter(self.shard.iter_torch_batches(batch_size=self.train.batch_size, **shuffle))


class ReportToRayTrain(pl.Callback):
    """Reports each epoch's logged metrics to Ray Train, with a resumable and servable checkpoint.

    Runs after validation (Lightning 2 calls on_train_epoch_end after the validation loop), so
    `val_*` metrics logged with `sync_dist=True` are already averaged over the ranks.
    """

    def __init__(self, config: LoopConfig) -> None:
        super().__init__()
        self.config = config

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        metrics = {
            name: float(value)
            for name, value in trainer.callback_metrics.items()
            if getattr(value, "numel", lambda: 1)() == 1
        }
        metrics["epoch"] = trainer.current_epoch + 1  # epochs done, as the other loops count
        with tempfile.TemporaryDirectory() as directory:
            trainer.save_checkpoint(Path(directory) / LIGHTNING_CHECKPOINT)  # every rank calls it
            checkpoint = None
            if trainer.global_rank == 0:
                run_id = ray.train.get_context().get_experiment_name()
                meta = self.config.checkpoint_meta(metrics, run_id)
                save_servable(Path(directory), pl_module, meta)
                checkpoint = ray.train.Checkpoint.from_directory(directory)
            ray.train.report(metrics, checkpoint=checkpoint)
            trainer.strategy.barrier()
