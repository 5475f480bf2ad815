"""The digits MLP trained by a Hugging Face Accelerate loop; nothing in it knows about Raylight.

Raylight runs it with `train.loop.kind: accelerate` (see accelerate.yaml) on every Ray Train
worker. Accelerator() finds the process group Ray set up, and takes its mixed precision and
gradient accumulation from the environment (ACCELERATE_MIXED_PRECISION,
ACCELERATE_GRADIENT_ACCUMULATION_STEPS), which Raylight sets from the spec.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import ray.train
import torch
from accelerate import Accelerator
from torch import nn

from pipelines.digits.model import build_mlp


def train_loop(config: dict[str, Any]) -> None:
    accelerator = Accelerator()
    torch.manual_seed(config["seed"])
    model = build_mlp(config["num_features"], config["num_outputs"], **config["model_kwargs"])
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"]
    )
    start_epoch = 0
    checkpoint = ray.train.get_checkpoint()  # after a worker restart or a resumed run
    if checkpoint:
        with checkpoint.as_directory() as directory:
            model.load_state_dict(
                torch.load(os.path.join(directory, "model.pt"), weights_only=True)
            )
            state = torch.load(os.path.join(directory, "state.pt"), weights_only=True)
            optimizer.load_state_dict(state["optimizer"])
            start_epoch = state["epoch"]
    model, optimizer = accelerator.prepare(model, optimizer)
    loss_fn = nn.CrossEntropyLoss()
    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val")

    for epoch in range(start_epoch, config["epochs"]):
        model.train()
        for batch in train_shard.iter_torch_batches(
            batch_size=config["batch_size"],
            device=accelerator.device,
            local_shuffle_buffer_size=512,
        ):
            with accelerator.accumulate(model):
                loss = loss_fn(model(batch["features"]), batch["label"])
                accelerator.backward(loss)
                optimizer.step()
                optimizer.zero_grad()

        model.eval()
        sums = torch.zeros(3, device=accelerator.device)  # loss * rows, correct, rows
        with torch.no_grad():
            for batch in val_shard.iter_torch_batches(batch_size=256, device=accelerator.device):
                outputs = model(batch["features"]).float()
                rows = len(batch["label"])
                correct = (outputs.argmax(dim=1) == batch["label"]).sum()
                sums += torch.stack(
                    [
                        loss_fn(outputs, batch["label"]) * rows,
                        correct.float(),
                        sums.new_tensor(rows),
                    ]
                )
        sums = accelerator.reduce(sums, reduction="sum")  # the whole split, not this rank's part
        metrics = {
            "epoch": epoch + 1,
            "val_loss": (sums[0] / sums[2]).item(),
            "val_accuracy": (sums[1] / sums[2]).item(),
            # What Accelerate took from the environment, reported so a run shows it.
            "accumulation_steps": accelerator.gradient_accumulation_steps,
            "bf16": float(accelerator.mixed_precision == "bf16"),
        }
        with tempfile.TemporaryDirectory() as directory:
            saved = None
            if accelerator.is_main_process:
                weights = accelerator.unwrap_model(model).state_dict()
                torch.save(weights, os.path.join(directory, "model.pt"))
                state = {"epoch": epoch + 1, "optimizer": optimizer.state_dict()}
                torch.save(state, os.path.join(directory, "state.pt"))
                saved = ray.train.Checkpoint.from_directory(directory)
            ray.train.report(metrics, checkpoint=saved)
