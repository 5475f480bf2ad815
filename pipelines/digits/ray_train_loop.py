"""A Ray Train loop for the digits MLP, written the way Ray's documentation writes one.

Its names are its own: datasets "train" and "validation", columns "x" (one vector of floats per
row) and "y", metrics "loss" and "accuracy", and the state_dict of the model `prepare_model`
returned (DistributedDataParallel's, keys `module.*`). Raylight runs it unmodified with
`train.loop.kind: ray_train` (ray_train_loop.yaml maps its names); it would run the same under a
hand-made TorchTrainer given the same config keys and datasets.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from torch import nn

from pipelines.digits.model import build_mlp


def train_loop(config: dict[str, Any]) -> None:
    torch.manual_seed(config["seed"])
    train_shard = ray.train.get_dataset_shard("train")
    validation_shard = ray.train.get_dataset_shard("validation")
    model = build_mlp(config["num_features"], config["num_outputs"], **config["model_kwargs"])
    model = ray.train.torch.prepare_model(model)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"]
    )
    start_epoch = 0
    checkpoint = ray.train.get_checkpoint()  # set after a worker restart or a resumed run
    if checkpoint:
        with checkpoint.as_directory() as directory:
            model.load_state_dict(
                torch.load(os.path.join(directory, "model.pt"), weights_only=True)
            )
            state = torch.load(os.path.join(directory, "state.pt"), weights_only=True)
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"])
            start_epoch = state["epoch"]
    loss_fn = nn.CrossEntropyLoss()
    device = ray.train.torch.get_device()

    for epoch in range(start_epoch, config["epochs"]):
        model.train()
        for batch in train_shard.iter_torch_batches(
            batch_size=config["batch_size"], device=device, local_shuffle_buffer_size=512
        ):
            optimizer.zero_grad()
            loss = loss_fn(model(batch["x"]), batch["y"])
            loss.backward()
            optimizer.step()

        model.eval()
        sums = torch.zeros(3, device=device)  # loss * rows, correct, rows
        with torch.no_grad():
            for batch in validation_shard.iter_torch_batches(batch_size=256, device=device):
                outputs = model(batch["x"])
                rows = len(batch["y"])
                correct = (outputs.argmax(dim=1) == batch["y"]).sum()
                sums += torch.stack(
                    [loss_fn(outputs, batch["y"]) * rows, correct.float(), sums.new_tensor(rows)]
                )
        if dist.is_initialized():
            dist.all_reduce(sums)  # every rank's share: the metric covers the whole split
        metrics = {
            "epoch": epoch + 1,
            "loss": (sums[0] / sums[2]).item(),
            "accuracy": (sums[1] / sums[2]).item(),
        }
        with tempfile.TemporaryDirectory() as directory:
            checkpoint = None
            if ray.train.get_context().get_world_rank() == 0:
                torch.save(model.state_dict(), os.path.join(directory, "model.pt"))
                torch.save(
                    {
                        "epoch": epoch + 1,
                        "optimizer": optimizer.state_dict(),
                        "rng": torch.get_rng_state(),
                    },
                    os.path.join(directory, "state.pt"),
                )
                checkpoint = ray.train.Checkpoint.from_directory(directory)
            ray.train.report(metrics, checkpoint=checkpoint)
