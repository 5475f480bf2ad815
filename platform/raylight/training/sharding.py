"""FSDP for the managed loop (`train.strategy: fsdp`): torch's fully_shard over Ray's group.

Ray Train's `prepare_model(parallel_strategy="fsdp")` wraps with the older FSDP1 class; this
uses FSDP2 (`torch.distributed.fsdp.fully_shard`), torch's current API, which also runs on CPU
workers over gloo. Checkpoints stay what `serve` reads: the full, unsharded weights gathered
to rank 0, and the optimizer state in its full (by parameter name) form, so a run resumes on
any number of workers.
"""

from __future__ import annotations

from typing import Any

import ray.train.torch
import torch
from torch import nn

SHARDED_OPTIMIZER_FORMAT = "fsdp_full"  # training_state["optimizer_format"] of such checkpoints


def shard_model(model: nn.Module) -> nn.Module:
    """Move to this worker's device, then shard every top-level submodule and the root.

    Each fully_shard unit all-gathers its parameters just for its own forward and backward, so
    at most one unit is unsharded at a time.
    """
    from torch.distributed.fsdp import fully_shard

    model = ray.train.torch.prepare_model(model, parallel_strategy=None)  # device only
    for unit in shard_units(model):
        fully_shard(unit)
    fully_shard(model)
    return model


def shard_units(model: nn.Module) -> list[nn.Module]:
    """The modules sharded on their own: top-level children that hold parameters.

    A ModuleList or ModuleDict has no forward of its own (fully_shard refuses it), so its
    members are the units instead: a transformer's `layers`, a model's embedding tables.
    """
    units = []
    for child in model.children():
        members = child.children() if isinstance(child, nn.ModuleList | nn.ModuleDict) else [child]
        units += [m for m in members if any(True for _ in m.parameters())]
    return units


def full_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], Any]:
    """The whole model's and optimizer's state on rank 0 (empty elsewhere).

    A collective: every rank must call it, in the same order.
    """
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    weights = get_model_state_dict(model, options=options)
    return weights, get_optimizer_state_dict(model, optimizer, options=options)


def load_full_optimizer_state(
    model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> None:
    """Shard a full optimizer state (as full_state wrote it) onto this rank's parameters."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(
        model, optimizer, state, options=StateDictOptions(full_state_dict=True)
    )


def local_parameter_fraction(model: nn.Module) -> float:
    """The share of the model's parameters this rank holds: about 1/world_size when sharded."""
    total = local = 0
    for parameter in model.parameters():
        total += parameter.numel()
        to_local = getattr(parameter, "to_local", None)  # a DTensor: this rank's shard
        local += to_local().numel() if to_local else parameter.numel()
    return local / max(total, 1)
