"""The managed training loop: plain PyTorch, run by every Ray Train worker, top to bottom."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from torch import nn

import raylight
from raylight.components import call_model_builder
from raylight.preprocessing.transforms import FittedPreprocessing
from raylight.spec.schema import OptimizerSpec, Spec, TrainSpec
from raylight.training.checkpoints import (
    MODEL_FILE,
    CheckpointMeta,
    load_training_state,
    save_checkpoint,
)

SHUFFLE_BUFFER_BATCHES = 16


def train_fn_per_worker(config: dict[str, Any]) -> None:
    """Train `config["spec"]` on this worker's shard; rank 0 writes one checkpoint per epoch.

    Metrics are sums all-reduced over every rank, so the reported values describe the whole
    validation split, not rank 0's share of it. After a worker-group restart each rank resumes
    from the latest committed checkpoint (weights, optimizer, epoch, RNG).
    """
    spec = Spec.model_validate(config["spec"])  # the one untyped boundary: re-validate first
    preprocessing = FittedPreprocessing.from_dict(config["preprocessing"])
    context = ray.train.get_context()
    device = ray.train.torch.get_device()
    torch.manual_seed(spec.train.seed)

    model = call_model_builder(
        spec.model.builder,
        spec.model.kwargs,
        num_features=preprocessing.num_features,
        num_outputs=preprocessing.num_outputs,
    )
    resumed = _load_latest_checkpoint(model)
    model = ray.train.torch.prepare_model(model)  # device + DDP; the optimizer comes after
    optimizer = build_optimizer(spec.train.optimizer, model.parameters())
    start_epoch = _resume(optimizer, resumed)
    loss_fn = nn.CrossEntropyLoss() if spec.train.loss == "cross_entropy" else nn.MSELoss()
    is_classification = preprocessing.task == "classification"
    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val")

    for epoch in range(start_epoch, spec.train.epochs):
        model.train()
        train_sums = torch.zeros(2, device=device)  # loss * rows, rows
        for features, labels in _batches(train_shard, spec.train, device, shuffle_seed=epoch):
            outputs = _forward(model, features, is_classification)
            loss = loss_fn(outputs, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            train_sums += torch.stack([loss.detach() * len(labels), _count(labels, device)])

        val_sums = _evaluate(
            _unwrap(model), val_shard, spec.train, device, loss_fn, is_classification
        )
        metrics = _metrics(
            epoch + 1, _all_reduce(train_sums), _all_reduce(val_sums), is_classification
        )
        _report(metrics, _unwrap(model), optimizer, context.get_world_rank(), config)


def build_optimizer(spec: OptimizerSpec, params: Iterator[nn.Parameter]) -> torch.optim.Optimizer:
    if spec.name == "sgd":
        return torch.optim.SGD(
            params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
        )
    optimizer_class = torch.optim.AdamW if spec.name == "adamw" else torch.optim.Adam
    return optimizer_class(params, lr=spec.lr, weight_decay=spec.weight_decay)


def _batches(
    shard: Any, train: TrainSpec, device: torch.device, shuffle_seed: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    shuffle = {}
    if shuffle_seed is not None:
        shuffle = {
            "local_shuffle_buffer_size": train.batch_size * SHUFFLE_BUFFER_BATCHES,
            "local_shuffle_seed": train.seed * 100_003 + shuffle_seed,
        }
    for batch in shard.iter_torch_batches(batch_size=train.batch_size, device=device, **shuffle):
        yield batch["features"], batch["label"]


def _forward(model: nn.Module, features: torch.Tensor, is_classification: bool) -> torch.Tensor:
    outputs: torch.Tensor = model(features)
    return outputs if is_classification else outputs.reshape(-1)


def _evaluate(
    model: nn.Module,
    shard: Any,
    train: TrainSpec,
    device: torch.device,
    loss_fn: nn.Module,
    is_classification: bool,
) -> torch.Tensor:
    """Sums over this rank's validation shard: loss * rows, correct predictions, rows."""
    model.eval()
    sums = torch.zeros(3, device=device)
    with torch.no_grad():
        for features, labels in _batches(shard, train, device):
            outputs = _forward(model, features, is_classification)
            correct = (
                (outputs.argmax(dim=1) == labels).sum() if is_classification else sums.new_zeros(())
            )
            loss_sum = loss_fn(outputs, labels) * len(labels)
            sums += torch.stack([loss_sum, correct.float(), _count(labels, device)])
    return sums


def _metrics(
    epoch: int, train_sums: torch.Tensor, val_sums: torch.Tensor, is_classification: bool
) -> dict[str, float]:
    train_rows, val_rows = max(train_sums[1].item(), 1.0), max(val_sums[2].item(), 1.0)
    metrics = {
        "epoch": epoch,
        "train_loss": train_sums[0].item() / train_rows,
        "val_loss": val_sums[0].item() / val_rows,
        "val_rows": val_sums[2].item(),
    }
    if is_classification:
        metrics["val_accuracy"] = val_sums[1].item() / val_rows
    return metrics


def _report(
    metrics: dict[str, float],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    rank: int,
    config: dict[str, Any],
) -> None:
    """Every rank reports (it is a barrier); only rank 0 contributes a checkpoint."""
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = None
        if rank == 0:
            state = {
                "epoch": int(metrics["epoch"]),
                "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(),
            }
            meta = CheckpointMeta(
                spec=config["spec"],
                spec_hash=config["spec_hash"],
                preprocessing=config["preprocessing"],
                epoch=int(metrics["epoch"]),
                metrics=metrics,
                raylight_version=raylight.__version__,
            )
            save_checkpoint(Path(directory), model, state, meta)
            checkpoint = ray.train.Checkpoint.from_directory(directory)
        ray.train.report(metrics, checkpoint=checkpoint)


def _load_latest_checkpoint(model: nn.Module) -> dict[str, Any] | None:
    """After a worker-group restart, load the latest committed weights; return its state."""
    from safetensors.torch import load_model

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as directory:
        load_model(model, str(Path(directory) / MODEL_FILE))
        return load_training_state(Path(directory))


def _resume(optimizer: torch.optim.Optimizer, state: dict[str, Any] | None) -> int:
    """Restore optimizer and RNG state; return the epoch to start at (0 for a fresh run).

    load_state_dict moves the optimizer state onto the parameters' device, which is why the
    optimizer is built after prepare_model has moved the model.
    """
    if state is None:
        return 0
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["epoch"])


def _all_reduce(sums: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(sums)
    return sums


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _count(labels: torch.Tensor, device: torch.device) -> torch.Tensor:
    return torch.tensor(float(len(labels)), device=device)
