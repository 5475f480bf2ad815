"""A plain Ray Train loop for the digit images CNN, as Ray's docs teach it; nothing Raylight-only.

Raylight runs it with `train.loop.kind: ray_train` (see ray_train_loop.yaml); its Ray Data shards
hold the named columns "image" and "label". It would run the same under a hand-made TorchTrainer
given the same config keys and datasets.
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

from pipelines.digits_images.model import build_cnn


def train_loop(config: dict[str, Any]) -> None:
    torch.manual_seed(config["seed"])
    model = build_cnn(
        config["image_channels"],
        config["image_size"],
        config["num_outputs"],
        **config["model_kwargs"],
    )
    start_epoch, optimizer_state = 0, None
    checkpoint = ray.train.get_checkpoint()  # set after a worker restart or a resumed run
    if checkpoint:
        with checkpoint.as_directory() as directory:
            model.load_state_dict(
                torch.load(os.path.join(directory, "model.pt"), weights_only=True)
            )
            state = torch.load(os.path.join(directory, "state.pt"), weights_only=True)
            start_epoch, optimizer_state = state["epoch"], state["optimizer"]
            torch.set_rng_state(state["rng"])
    model = ray.train.torch.prepare_model(model)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"]
    )
    if optimizer_state:
        optimizer.load_state_dict(optimizer_state)
    loss_fn = nn.CrossEntropyLoss()
    device = ray.train.torch.get_device()
    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val")

    for epoch in range(start_epoch, config["epochs"]):
        model.train()
        for batch in train_shard.iter_torch_batches(
            batch_size=config["batch_size"], device=device, local_shuffle_buffer_size=512
        ):
            optimizer.zero_grad()
            loss = loss_fn(model(batch["image"]), batch["label"])
            loss.backward()
            optimizer.step()

        model.eval()
        sums = torch.zeros(3, device=device)  # loss * rows, correct, rows
        with torch.no_grad():
            for batch in val_shard.iter_torch_batches(batch_size=256, device=device):
                outputs = model(batch["image"])
                rows = len(batch["label"])
                correct = (outputs.argmax(dim=1) == batch["label"]).sum()
                sums += torch.stack(
                    [
                        loss_fn(outputs, batch["label"]) * rows,
                        correct.float(),
                        sums.new_tensor(rows),
                    ]
                )
        if dist.is_initialized():
            dist.all_reduce(sums)  # every rank's share: the metric covers the whole split
        metrics = {
            "epoch": epoch + 1,
            "val_loss": (sums[0] / sums[2]).item(),
            "val_accuracy": (sums[1] / sums[2]).item(),
        }
        with tempfile.TemporaryDirectory() as directory:
            checkpoint = None
            if ray.train.get_context().get_world_rank() == 0:
                torch.save(
                    model.module.state_dict() if hasattr(model, "module") else model.state_dict(),
                    os.path.join(directory, "model.pt"),
                )
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
