"""Training throughput against plain PyTorch baselines, in one session. Prints JSON; not a test.

Three comparisons, each against its baseline run in the same process or session:
  loop  The managed loop vs a hand-written PyTorch loop: same model, same batches, same batch
        size, both validating and saving weights each epoch: steps/s ratio (goal >= 0.98).
        --device cuda runs both on the GPU (peak memory reported for each), --precision bf16
        under autocast, and --source tensors reads in-memory tensors instead of Ray Data (no
        Ray cluster needed; the tensors stay on the device, so only the loops differ).
  ddp   The same DDP training function on 2 CPU processes, under a Ray Train worker group and under
        `torchrun --nproc_per_node 2`: throughput ratio (goal >= 0.95) and time to the first step.
  data  Ray Data `iter_torch_batches` vs a torch DataLoader over the same Parquet file, file read
        included: rows/s ratio (goal >= 1.0).

    .venv/bin/python benchmarks/train_throughput.py [--part loop|ddp|data|all] [--repeats 3]
    .venv/bin/python benchmarks/train_throughput.py --part loop --device cuda --precision bf16
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FEATURES, CLASSES = 64, 10


def synthetic(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a learnable label: the argmax of a fixed random projection."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    y = (x @ rng.standard_normal((FEATURES, CLASSES), dtype=np.float32)).argmax(axis=1)
    return x, y.astype(np.int64)


def build_model(hidden: int) -> nn.Module:
    from pipelines.digits.model import build_mlp

    return build_mlp(FEATURES, CLASSES, hidden=hidden, dropout=0.0)


# ------------------------------------------------------------------------------ loop
class BenchSession:
    """A one-rank LoopSession in this process (what an in-process Tune trial uses, minus Tune)."""

    rank, world_size, run_id = 0, 1, "bench"

    def __init__(self, datasets: dict[str, Any], device: torch.device) -> None:
        self.datasets = datasets
        self.device = device

    def prepare_model(self, model: nn.Module) -> nn.Module:
        return model.to(self.device)

    def dataset(self, split: str) -> Any:
        return self.datasets[split]

    def checkpoint(self) -> None:
        return None

    def report(self, metrics: dict[str, float], checkpoint: Any) -> None:
        pass


class TensorSplit:
    """One split as tensors, read through Ray Data's `iter_torch_batches` call (--source tensors).

    A shuffle seed gives a seeded permutation of the whole split (Ray Data shuffles within a
    buffer); batches are gathered where the tensors live, so a GPU run copies nothing per step.
    """

    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        self.features, self.labels = features, labels

    def count(self) -> int:
        return len(self.labels)

    def iter_torch_batches(
        self,
        *,
        batch_size: int,
        device: str | torch.device | None = None,
        local_shuffle_buffer_size: int | None = None,
        local_shuffle_seed: int | None = None,
    ) -> Iterator[dict[str, torch.Tensor]]:
        rows = self.count()
        order = None
        if local_shuffle_buffer_size:
            generator = torch.Generator().manual_seed(local_shuffle_seed or 0)
            order = torch.randperm(rows, generator=generator).to(self.labels.device)
        for start in range(0, rows, batch_size):
            index = (
                slice(start, start + batch_size)
                if order is None
                else order[start : start + batch_size]
            )
            features, labels = self.features[index], self.labels[index]
            if device is not None:
                features, labels = features.to(device), labels.to(device)
            yield {"features": features, "label": labels}


def tensor_datasets(rows: int, device: torch.device) -> dict[str, Any]:
    """The rows and split of `ray_datasets`, as tensors already on `device`."""
    x, y = synthetic(rows)
    features, labels = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    val_rows = rows // 50
    return {
        "train": TensorSplit(features[val_rows:], labels[val_rows:]),
        "val": TensorSplit(features[:val_rows], labels[:val_rows]),
    }


def ray_datasets(rows: int) -> dict[str, Any]:
    import ray.data

    x, y = synthetic(rows)
    val_rows = rows // 50
    return {
        "train": ray.data.from_numpy(x[val_rows:])
        .zip(ray.data.from_numpy(y[val_rows:]))
        .map_batches(lambda b: {"features": b["data"], "label": b["data_1"]})
        .materialize(),
        "val": ray.data.from_numpy(x[:val_rows])
        .zip(ray.data.from_numpy(y[:val_rows]))
        .map_batches(lambda b: {"features": b["data"], "label": b["data_1"]})
        .materialize(),
    }


def measured(device: torch.device, run: Callable[[], None]) -> tuple[float, int | None]:
    """Seconds `run` takes and, on a GPU, its peak allocated bytes (the GPU drained both ends)."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    run()
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return seconds, torch.cuda.max_memory_allocated(device) if cuda else None


def managed_epochs(
    datasets: dict[str, Any], rows: int, args: argparse.Namespace
) -> tuple[float, int | None]:
    """Raylight's loop, as a Train worker runs it, on `args.device` at `args.precision`."""
    from raylight.preprocessing.transforms import FittedPreprocessing
    from raylight.spec.schema import Spec
    from raylight.training.loops.config import LoopConfig
    from raylight.training.loops.managed import run_loop

    spec = Spec.model_validate(
        {
            "spec_version": 1,
            "name": "bench",
            "data": {"source": {"format": "parquet", "path": "unused.parquet"}, "label": "label"},
            "model": {
                "builder": "pipelines.digits.model:build_mlp",
                "kwargs": {"hidden": args.hidden, "dropout": 0.0},
            },
            "train": {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "optimizer": {"name": "adamw", "lr": 1e-3},
                "precision": args.precision,
            },
        }
    )
    preprocessing = FittedPreprocessing(
        tuple(f"f{i}" for i in range(FEATURES)), "label", "classification", tuple(range(CLASSES))
    )
    config = LoopConfig(spec=spec, spec_hash="bench", preprocessing=preprocessing, train_rows=rows)
    device = torch.device(args.device)
    return measured(device, lambda: run_loop(config, BenchSession(datasets, device)))


def raw_epochs(datasets: dict[str, Any], args: argparse.Namespace) -> tuple[float, int | None]:
    """What one writes by hand: train, validate, save the weights, every epoch."""
    device = torch.device(args.device)
    return measured(device, lambda: raw_loop(datasets, args, device))


def raw_loop(datasets: dict[str, Any], args: argparse.Namespace, device: torch.device) -> None:
    """The hand-written loop itself, bf16 autocast around forward and loss where asked."""
    torch.manual_seed(0)
    model = build_model(args.hidden).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    bf16 = args.precision == "bf16"

    def autocast() -> torch.autocast:
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    with tempfile.TemporaryDirectory() as directory:
        for epoch in range(args.epochs):
            model.train()
            for batch in datasets["train"].iter_torch_batches(
                batch_size=args.batch_size,
                device=device,
                local_shuffle_buffer_size=args.batch_size * 16,
                local_shuffle_seed=epoch,
            ):
                optimizer.zero_grad(set_to_none=True)
                with autocast():
                    loss = loss_fn(model(batch["features"]), batch["label"])
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad(), autocast():
                for batch in datasets["val"].iter_torch_batches(
                    batch_size=args.batch_size, device=device
                ):
                    loss_fn(model(batch["features"]), batch["label"])
            torch.save(model.state_dict(), os.path.join(directory, "model.pt"))


@contextlib.contextmanager
def local_ray(enabled: bool) -> Iterator[None]:
    """A local Ray instance for the duration, where the batches come from Ray Data."""
    if not enabled:
        yield
        return
    import ray

    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def bench_loop(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    with local_ray(args.source == "ray"):
        if args.source == "ray":
            datasets = ray_datasets(args.rows)
        else:
            datasets = tensor_datasets(args.rows, device)
        train_rows = datasets["train"].count()
        steps = args.epochs * -(-train_rows // args.batch_size)
        raw_epochs(datasets, args)  # warm-up: first-touch allocations, thread pools, cuBLAS
        raw, managed = [], []
        for _ in range(args.repeats):  # interleaved, so drift hits both alike
            raw.append(raw_epochs(datasets, args))
            managed.append(managed_epochs(datasets, train_rows, args))
    raw_s = statistics.median(seconds for seconds, _ in raw)
    managed_s = statistics.median(seconds for seconds, _ in managed)
    samples = args.epochs * train_rows
    report: dict[str, Any] = {
        "rows": args.rows,
        "hidden": args.hidden,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "raw_steps_per_s": round(steps / raw_s, 2),
        "managed_steps_per_s": round(steps / managed_s, 2),
        "ratio_managed_to_raw": round(raw_s / managed_s, 3),
        "runs": args.repeats,
        "source": args.source,
        "device": args.device,
        "precision": args.precision,
        "raw_samples_per_s": round(samples / raw_s),
        "managed_samples_per_s": round(samples / managed_s),
        "raw_seconds": [round(seconds, 3) for seconds, _ in raw],
        "managed_seconds": [round(seconds, 3) for seconds, _ in managed],
    }
    if device.type == "cuda":
        report["device_name"] = torch.cuda.get_device_name(device)
        report["raw_peak_mib"] = round(max(peak or 0 for _, peak in raw) / 2**20, 1)
        report["managed_peak_mib"] = round(max(peak or 0 for _, peak in managed) / 2**20, 1)
        if args.source == "tensors":  # in both peaks alike
            report["data_on_device_mib"] = round(args.rows * (FEATURES * 4 + 8) / 2**20, 1)
    return report


# ------------------------------------------------------------------------------- ddp
def ddp_train(steps: int, batch_size: int, hidden: int) -> dict[str, float]:
    """The shared script body: DDP over an initialized process group, synthetic batches."""
    import torch.distributed as dist

    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(build_model(hidden))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x, y = synthetic(batch_size * 32, seed=rank)
    features, labels = torch.from_numpy(x), torch.from_numpy(y)
    first_step_at, timed_from = 0.0, 0.0
    warmup = 10
    for step in range(steps):
        i = (step % 32) * batch_size
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(features[i : i + batch_size]), labels[i : i + batch_size]).backward()
        optimizer.step()
        if step == 0:
            first_step_at = time.time()
        if step == warmup - 1:
            timed_from = time.perf_counter()
    elapsed = time.perf_counter() - timed_from
    return {
        "first_step_at": first_step_at,
        "samples_per_s": (steps - warmup) * batch_size * world / elapsed,
        "threads_per_process": torch.get_num_threads(),  # torchrun and Ray both pin OMP to 1
    }


def ray_train_loop(config: dict[str, Any]) -> dict[str, float]:
    return ddp_train(config["steps"], config["batch_size"], config["hidden"])


def bench_ddp(args: argparse.Namespace) -> dict[str, Any]:
    import ray
    import ray.train
    from ray.train.torch import TorchTrainer

    started = time.time()
    command = [
        str(Path(sys.executable).parent / "torchrun"),
        "--nproc_per_node",
        "2",
        __file__,
        "--torchrun-worker",
        f"--ddp-steps={args.ddp_steps}",
        f"--batch-size={args.batch_size}",
        f"--hidden={args.hidden}",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    torchrun = json.loads(output.strip().splitlines()[-1])

    init_started = time.time()
    ray.init(
        num_cpus=4,
        include_dashboard=True,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},  # workers import the model
    )
    ray_init_s = time.time() - init_started
    try:
        with tempfile.TemporaryDirectory() as storage:
            fit_started = time.time()
            result = TorchTrainer(
                ray_train_loop,
                train_loop_config={
                    "steps": args.ddp_steps,
                    "batch_size": args.batch_size,
                    "hidden": args.hidden,
                },
                scaling_config=ray.train.ScalingConfig(num_workers=2),
                run_config=ray.train.RunConfig(storage_path=storage, name="ddp-bench"),
            ).fit()
        ray_train = result.return_value
    finally:
        ray.shutdown()
    return {
        "steps": args.ddp_steps,
        "batch_size_per_worker": args.batch_size,
        "torchrun_samples_per_s": round(torchrun["samples_per_s"], 1),
        "ray_train_samples_per_s": round(ray_train["samples_per_s"], 1),
        "ratio_ray_to_torchrun": round(ray_train["samples_per_s"] / torchrun["samples_per_s"], 3),
        "torchrun_s_to_first_step": round(torchrun["first_step_at"] - started, 2),
        "ray_train_s_to_first_step_from_fit": round(ray_train["first_step_at"] - fit_started, 2),
        "ray_init_s": round(ray_init_s, 2),
        "threads_per_process": [torchrun["threads_per_process"], ray_train["threads_per_process"]],
    }


def torchrun_worker(args: argparse.Namespace) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo")
    result = ddp_train(args.ddp_steps, args.batch_size, args.hidden)
    if dist.get_rank() == 0:
        print(json.dumps(result), flush=True)
    dist.destroy_process_group()


# ------------------------------------------------------------------------------ data
def write_parquet(path: Path, rows: int) -> None:
    import pandas as pd

    x, y = synthetic(rows)
    frame = pd.DataFrame(x[:, :16], columns=[f"f{i}" for i in range(16)])
    frame["label"] = y
    frame.to_parquet(path, index=False, row_group_size=100_000)


def ray_data_rows_per_s(path: Path, batch_size: int) -> float:
    import ray.data

    start = time.perf_counter()
    rows = 0
    for batch in ray.data.read_parquet(str(path)).iter_torch_batches(batch_size=batch_size):
        rows += len(batch["label"])
    return rows / (time.perf_counter() - start)


def dataloader_rows_per_s(path: Path, batch_size: int, workers: int) -> float:
    """The usual hand-written path: read the file, a map-style Dataset, a DataLoader."""
    import pandas as pd
    from torch.utils.data import DataLoader, TensorDataset

    start = time.perf_counter()
    frame = pd.read_parquet(path)
    features = torch.from_numpy(frame.drop(columns="label").to_numpy(np.float32))
    dataset = TensorDataset(features, torch.from_numpy(frame["label"].to_numpy()))
    rows = 0
    for _, labels in DataLoader(dataset, batch_size=batch_size, num_workers=workers):
        rows += len(labels)
    return rows / (time.perf_counter() - start)


def bench_data(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    from raylight.preprocessing.sources import use_task_based_data_defaults

    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    use_task_based_data_defaults()  # the Parquet reader Raylight's data preparation uses
    try:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "rows.parquet"
            write_parquet(path, args.data_rows)
            ray_data_rows_per_s(path, args.data_batch_size)  # warm-up: Ray Data's first plan
            ray_rates, loader_rates, loader2_rates = [], [], []
            for _ in range(args.repeats):
                ray_rates.append(ray_data_rows_per_s(path, args.data_batch_size))
                loader_rates.append(dataloader_rows_per_s(path, args.data_batch_size, 0))
                loader2_rates.append(dataloader_rows_per_s(path, args.data_batch_size, 2))
    finally:
        ray.shutdown()
    ray_rate, loader = statistics.median(ray_rates), statistics.median(loader_rates)
    loader2 = statistics.median(loader2_rates)
    return {
        "rows": args.data_rows,
        "batch_size": args.data_batch_size,
        "ray_data_rows_per_s": round(ray_rate),
        "dataloader_rows_per_s": round(loader),
        "dataloader_2_workers_rows_per_s": round(loader2),
        "ratio_ray_data_to_dataloader": round(ray_rate / loader, 2),
        "ratio_ray_data_to_dataloader_2_workers": round(ray_rate / loader2, 2),
        "runs": args.repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["loop", "ddp", "data", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="loop only")
    parser.add_argument("--precision", choices=["32", "bf16"], default="32", help="loop only")
    parser.add_argument(
        "--source",
        choices=["ray", "tensors"],
        default="ray",
        help="loop only: Ray Data batches, or in-memory tensors (no Ray cluster)",
    )
    parser.add_argument("--ddp-steps", type=int, default=300)
    parser.add_argument("--data-rows", type=int, default=2_000_000)
    parser.add_argument("--data-batch-size", type=int, default=1024)
    parser.add_argument("--torchrun-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible to torch")
    if args.torchrun_worker:
        torchrun_worker(args)
        return
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")
    parts = {"loop": bench_loop, "ddp": bench_ddp, "data": bench_data}
    chosen = list(parts) if args.part == "all" else [args.part]
    report = {"torch_threads": torch.get_num_threads(), "cpus": os.cpu_count()}
    for name in chosen:
        report[name] = parts[name](args)
        print(json.dumps({name: report[name]}), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
