"""The managed loop (`train.loop.kind: managed`): plain PyTorch on every worker, top to bottom.

The same loop runs inside an in-process Tune trial; `LoopSession` is the only difference.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray.train
import torch
import torch.distributed as dist
from torch import nn

from raylight.preprocessing.model_io import call_model, model_inputs_of
from raylight.runs.checkpoints import MODEL_FILE, load_training_state, read_meta, save_checkpoint
from raylight.runs.pretrained import build_model
from raylight.runs.weights import weights_digest
from raylight.spec.train import TrainSpec
from raylight.training.faults import install_pause_after_report
from raylight.training.loop_session import LoopSession, TrainWorkerSession
from raylight.training.loops import LoopSetup, WorkerPlan
from raylight.training.loops.config import LoopConfig
from raylight.training.loops.shards import shuffle_options
from raylight.training.metrics import compute_metrics, update_metrics, validation_metrics
from raylight.training.optimization import (
    EarlyStopping,
    build_lr_scheduler,
    build_optimizer,
    steps_per_epoch,
)
from raylight.training.sharding import (
    SHARDED_OPTIMIZER_FORMAT,
    full_state,
    load_full_optimizer_state,
    local_parameter_fraction,
    shard_model,
)

if TYPE_CHECKING:
    from torchmetrics import MetricCollection


def build_worker_plan(setup: LoopSetup) -> WorkerPlan:
    return WorkerPlan(train_fn_per_worker, setup.loop_config().to_dict())


def train_fn_per_worker(config: dict[str, Any]) -> None:
    """The Ray Train entry point: the managed loop on this worker's rank."""
    loop_config = LoopConfig.from_dict(config)  # the one untyped boundary: re-validated first
    install_pause_after_report()  # tests only: see raylight.training.faults
    run_loop(loop_config, TrainWorkerSession(start_from=loop_config.start_from))


def run_loop(config: LoopConfig, session: LoopSession) -> None:
    """Train `config.spec` on this rank's data; rank 0 writes one checkpoint per epoch.

    Metrics are sums all-reduced over every rank, so the reported values describe the whole
    validation split, not rank 0's share of it. After a restart (or a PBT exploit) every rank
    continues from the session's checkpoint: weights, optimizer, lr schedule, grad scaler,
    early-stopping counters, epoch, RNG.
    """
    spec = config.spec
    train = spec.train
    preprocessing = config.preprocessing
    device = session.device
    torch.manual_seed(train.seed)

    model = build_model(spec.model, preprocessing.model_inputs(), config.pretrained)
    resumed, started_from = _load_checkpoint(session.checkpoint(), model, session.rank)
    # device + DDP or FSDP; the optimizer comes after, on the parameters as trained
    model = shard_model(model) if train.strategy == "fsdp" else session.prepare_model(model)
    shard_fraction = local_parameter_fraction(model) if train.strategy == "fsdp" else None
    if train.compile:
        model = torch.compile(model)  # type: ignore[assignment]
    steps = steps_per_epoch(
        config.train_rows, session.world_size, train.batch_size, train.accumulate_grad_batches
    )
    parts = _build_parts(train, model, device, steps)
    start_epoch = _resume(parts, resumed, train, model)
    loss_fn = nn.CrossEntropyLoss() if train.loss == "cross_entropy" else nn.MSELoss()
    is_classification = preprocessing.task == "classification"
    train_shard = session.dataset("train")
    val_shard = session.dataset("val")
    num_classes = len(preprocessing.label_classes) if is_classification else 0
    extra_metrics = validation_metrics(num_classes, device)

    for epoch in range(start_epoch, train.epochs):
        model.train()
        train_sums = torch.zeros(2, device=device)  # loss * rows, rows
        pending = 0  # micro-batches whose gradients wait for an optimizer step
        for inputs, labels in _batches(train_shard, train, device, shuffle_seed=epoch):
            with _autocast(device, train.precision):
                outputs = _forward(model, inputs, is_classification)
                loss = loss_fn(outputs, labels)
            parts.scaler.scale(loss / train.accumulate_grad_batches).backward()
            pending += 1
            if pending == train.accumulate_grad_batches:
                _step(parts, model, train)
                pending = 0
            train_sums += torch.stack([loss.detach().float() * len(labels), _count(labels, device)])
        if pending:
            _step(parts, model, train)

        val_sums = _evaluate(
            _unwrap(model), val_shard, train, device, loss_fn, is_classification, extra_metrics
        )
        metrics = _metrics(
            epoch + 1, _all_reduce(train_sums), _all_reduce(val_sums), is_classification
        )
        metrics.update(compute_metrics(extra_metrics))  # every rank's outputs gathered
        metrics["lr"] = float(parts.optimizer.param_groups[0]["lr"])  # in effect, not asked for
        if shard_fraction is not None:  # rank 0's share of the parameters: ~1/world_size
            metrics["param_shard_fraction"] = shard_fraction
        stop = parts.early_stopping.update(metrics[train.metric]) if parts.early_stopping else False
        if stop:
            metrics["stopped_early"] = 1.0
        _report(session, metrics, _unwrap(model), parts, config, started_from)
        if stop:  # every rank sees the same all-reduced metric, so all stop together
            break


@dataclass
class _Parts:
    """What the loop updates besides the weights, all saved in each checkpoint."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    early_stopping: EarlyStopping | None


def _build_parts(train: TrainSpec, model: nn.Module, device: torch.device, steps: int) -> _Parts:
    optimizer = build_optimizer(train.optimizer, model.parameters())
    return _Parts(
        optimizer=optimizer,
        scheduler=build_lr_scheduler(optimizer, train.lr_schedule, steps, train.epochs),
        scaler=torch.amp.GradScaler(device.type, enabled=train.precision == "fp16"),
        early_stopping=(
            EarlyStopping.from_spec(train.early_stopping, train.metric_mode)
            if train.early_stopping
            else None
        ),
    )


def _step(parts: _Parts, model: nn.Module, train: TrainSpec) -> None:
    """One optimizer step: unscale, clip, step (skipped by the scaler on inf/nan), schedule."""
    if train.gradient_clip_norm:
        parts.scaler.unscale_(parts.optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), train.gradient_clip_norm)
    parts.scaler.step(parts.optimizer)
    parts.scaler.update()
    parts.optimizer.zero_grad(set_to_none=True)
    parts.scheduler.step()


def _autocast(device: torch.device, precision: str) -> torch.autocast:
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=precision != "32")


def _batches(
    shard: Any, train: TrainSpec, device: torch.device, shuffle_seed: int | None = None
) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    """(named model inputs, labels) batches of this rank's shard."""
    shuffle = shuffle_options(train, shuffle_seed) if shuffle_seed is not None else {}
    for batch in shard.iter_torch_batches(batch_size=train.batch_size, device=device, **shuffle):
        yield model_inputs_of(batch), batch["label"]


def _forward(
    model: nn.Module, inputs: dict[str, torch.Tensor], is_classification: bool
) -> torch.Tensor:
    outputs = call_model(model, inputs)
    return outputs if is_classification else outputs.reshape(-1)


def _evaluate(
    model: nn.Module,
    shard: Any,
    train: TrainSpec,
    device: torch.device,
    loss_fn: nn.Module,
    is_classification: bool,
    extra_metrics: MetricCollection | None,
) -> torch.Tensor:
    """Sums over this rank's validation shard: loss * rows, correct predictions, rows.

    `extra_metrics` are updated with the same outputs (computed over all ranks by the caller).
    """
    model.eval()
    sums = torch.zeros(3, device=device)
    with torch.no_grad():
        for inputs, labels in _batches(shard, train, device):
            outputs = _forward(model, inputs, is_classification)
            update_metrics(extra_metrics, outputs, labels)
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
    session: LoopSession,
    metrics: dict[str, float],
    model: nn.Module,
    parts: _Parts,
    config: LoopConfig,
    started_from: dict[str, Any] | None,
) -> None:
    """Every rank reports (it is a barrier); only rank 0 contributes a checkpoint.

    Under FSDP every rank first takes part in gathering the full weights and optimizer state.
    """
    weights: nn.Module | dict[str, torch.Tensor] = model
    optimizer_state, optimizer_format = parts.optimizer.state_dict(), None
    if config.spec.train.strategy == "fsdp":
        weights, optimizer_state = full_state(model, parts.optimizer)
        optimizer_format = SHARDED_OPTIMIZER_FORMAT
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = None
        if session.rank == 0:
            state = {
                "epoch": int(metrics["epoch"]),
                "optimizer_name": config.spec.train.optimizer.name,
                "optimizer": optimizer_state,
                "optimizer_format": optimizer_format,
                "lr_scheduler": parts.scheduler.state_dict(),
                "grad_scaler": parts.scaler.state_dict(),
                "early_stopping": (
                    parts.early_stopping.state_dict() if parts.early_stopping else None
                ),
                "torch_rng": torch.get_rng_state(),
            }
            meta = config.checkpoint_meta(metrics, session.run_id, started_from)
            save_checkpoint(Path(directory), weights, state, meta)
            checkpoint = ray.train.Checkpoint.from_directory(directory)
        session.report(metrics, checkpoint)


def _load_checkpoint(
    checkpoint: ray.train.Checkpoint | None, model: nn.Module, rank: int
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Load a checkpoint's weights into `model`; return its training state and its lineage.

    The lineage (which run and epoch wrote it, and a digest of the weights as loaded) goes into
    every checkpoint this run writes, so a PBT exploit or a restart can be traced and checked.
    Only rank 0 writes checkpoints, so only rank 0 hashes the weights.
    """
    from safetensors.torch import load_model

    if checkpoint is None:
        return None, None
    with checkpoint.as_directory() as directory:
        load_model(model, str(Path(directory) / MODEL_FILE))
        state = load_training_state(Path(directory))
        if rank != 0:
            return state, None
        meta = read_meta(Path(directory))
        lineage = {
            "run_id": meta.run_id,
            "epoch": meta.epoch,
            "weights_sha256": weights_digest(model),
        }
        return state, lineage


def _resume(parts: _Parts, state: dict[str, Any] | None, train: TrainSpec, model: nn.Module) -> int:
    """Restore what the checkpoint holds; return the epoch to start at (0 for a fresh run).

    The checkpoint may come from another configuration (a PBT donor): its optimizer state is
    loaded only for the same optimizer, and the spec's own values (lr, weight decay, momentum)
    are put back, since load_state_dict restores the donor's. load_state_dict also moves the
    state onto the parameters' device, which is why the optimizer is built after prepare_model.
    An FSDP checkpoint's optimizer state is by parameter name and is sharded on load; between
    ddp and fsdp the optimizer starts fresh (the weights and schedule still carry over).
    """
    if state is None:
        return 0
    spec = train.optimizer
    sharded = train.strategy == "fsdp"
    same_format = (state.get("optimizer_format") == SHARDED_OPTIMIZER_FORMAT) == sharded
    if state.get("optimizer_name", spec.name) == spec.name and same_format:
        if sharded:
            load_full_optimizer_state(model, parts.optimizer, state["optimizer"])
        else:
            parts.optimizer.load_state_dict(state["optimizer"])
    if state.get("lr_scheduler"):
        parts.scheduler.load_state_dict(state["lr_scheduler"])
    parts.scheduler.base_lrs = [spec.lr for _ in parts.optimizer.param_groups]
    factor = parts.scheduler.lr_lambdas[0](parts.scheduler.last_epoch)
    for group in parts.optimizer.param_groups:
        group["lr"], group["weight_decay"] = spec.lr * factor, spec.weight_decay
        if "momentum" in group:
            group["momentum"] = spec.momentum
    if state.get("grad_scaler"):
        parts.scaler.load_state_dict(state["grad_scaler"])
    if parts.early_stopping and state.get("early_stopping"):
        parts.early_stopping.load_state_dict(state["early_stopping"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["epoch"])


def _all_reduce(sums: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(sums)
    return sums


def _unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside torch.compile's and DDP's wrappers (what checkpoints hold)."""
    model = getattr(model, "_orig_mod", model)
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _count(labels: torch.Tensor, device: torch.device) -> torch.Tensor:
    # A fill on the device: torch.tensor(n, device=cuda) copies from the host and waits for
    # the GPU, a sync on every step that cost ~10% of step time on an H100.
    return torch.full((), float(len(labels)), device=device)
