"""Serving latency and throughput against a plain FastAPI + uvicorn server. Prints JSON; not a test.

Every server answers POST /predict for the same checkpoint with the same request schema and the
same Predictor (fitted preprocessing + model); only what sits around it changes:
  plain            the FastAPI app + uvicorn in one process, no Ray (the baseline)
  serve-haproxy    `raylight serve` with Serve's HAProxy ingress, batching on / off
  serve-proxy      `raylight serve` with Serve's default proxy, batching on / off
The same client (threads with keep-alive sessions, a fixed request count per concurrency level)
measures each in turn on 127.0.0.1. A last run measures the time from a load step to a second
autoscaled replica answering.

    .venv/bin/python benchmarks/serve_latency.py [CHECKPOINT_OR_SPEC] [--requests 1000]
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------ servers
def plain_server(checkpoint: str, port: int) -> None:
    """The baseline: the same predictor and request schema in FastAPI + uvicorn, no Ray.

    (No `from __future__ import annotations` in this module: FastAPI must see the request
    model itself in `predict`'s signature, not a string, or it reads the body as a query.)
    """
    import uvicorn

    from raylight.serving.predictor import Predictor
    from raylight.serving.schemas import request_body
    from raylight.spec.schema import ServeSpec

    predictor = Predictor(checkpoint)
    prep = predictor.preprocessing
    body_model = request_body("plain", prep, ServeSpec())
    from fastapi import FastAPI

    api = FastAPI()

    async def predict(body: body_model) -> dict[str, Any]:  # type: ignore[valid-type]
        records = body if isinstance(body, list) else [body]
        return {"predictions": predictor.predict([r.model_dump(by_alias=True) for r in records])}

    api.post("/predict")(predict)
    uvicorn.run(api, host="127.0.0.1", port=port, log_level="warning", access_log=False)


class Server:
    """A server process started for one measurement, stopped (SIGINT) after it."""

    def __init__(self, args: list[str], env: dict[str, str], ready: str | None, port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 240
        while ready is not None and not any(ready in line for line in self.output):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + "".join(self.output[-30:]))
            time.sleep(0.2)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_plain(checkpoint: str) -> Server:
    port = free_port()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from benchmarks.serve_latency import plain_server; "
        "plain_server(sys.argv[2], int(sys.argv[3]))"
    )
    args = [sys.executable, "-c", code, str(ROOT), checkpoint, str(port)]
    server = Server(args, dict(os.environ), None, port)  # uvicorn prints nothing: poll HTTP
    wait_http(port)
    return server


def start_serve(target: str, overrides: list[str]) -> Server:
    port = free_port()
    args = [sys.executable, "-m", "raylight", "serve", target, f"serve.port={port}", *overrides]
    return Server(args, dict(os.environ), "serving until interrupted", port)


def wait_http(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answers on {port}")


# ------------------------------------------------------------------------------- client
def measure(port: int, record: dict[str, float], concurrency: int, count: int) -> dict[str, Any]:
    """`count` POSTs spread over `concurrency` keep-alive clients: latency and throughput."""
    url = f"http://127.0.0.1:{port}/predict"
    per_client = max(count // concurrency, 1)
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()

    def client(_: int) -> None:
        nonlocal failures
        session = requests.Session()
        session.post(url, json=record, timeout=30)  # warm the connection
        mine, bad = [], 0
        for _ in range(per_client):
            started = time.perf_counter()
            response = session.post(url, json=record, timeout=30)
            mine.append(time.perf_counter() - started)
            bad += response.status_code != 200
        with lock:
            latencies.extend(mine)
            failures += bad

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(client, range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "non_200": failures,
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
        "rps": round(len(latencies) / elapsed, 1),
    }


def sweep(server: Server, record: dict[str, float], levels: list[int], count: int) -> list[Any]:
    try:
        return [measure(server.port, record, c, count) for c in levels]
    finally:
        server.stop()


def time_to_second_replica(target: str, record: dict[str, float]) -> float:
    """Seconds from the start of a load step until a second replica answers /stats."""
    scaling = (
        "serve.autoscaling={min_replicas: 1, max_replicas: 2, target_ongoing_requests: 1, "
        "upscale_delay_s: 1, downscale_delay_s: 30}"
    )
    server = start_serve(target, [scaling])
    base = f"http://127.0.0.1:{server.port}"
    stop = threading.Event()

    def load() -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                session.post(f"{base}/predict", json=[record] * 256, timeout=30)
            except requests.RequestException:  # the server stopping under load
                return

    threads = [threading.Thread(target=load, daemon=True) for _ in range(6)]
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        first = requests.get(f"{base}/stats", timeout=10).json()["replica"]
        while time.monotonic() - started < 120:
            if requests.get(f"{base}/stats", timeout=10).json()["replica"] != first:
                return round(time.monotonic() - started, 1)
            time.sleep(0.1)
        return float("nan")
    finally:
        stop.set()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", default=str(ROOT / "pipelines/digits/experiment.yaml"))
    parser.add_argument("--requests", type=int, default=1000, help="per concurrency level")
    parser.add_argument("--levels", default="1,8,32")
    args = parser.parse_args()
    from raylight.runs.checkpoints import read_meta
    from raylight.serving.targets import resolve_target

    checkpoint = str(resolve_target(args.target).checkpoint_path)
    record = read_meta(checkpoint).parsed_preprocessing.example_record
    levels = [int(level) for level in args.levels.split(",")]
    results: dict[str, Any] = {"checkpoint": checkpoint, "cpus": os.cpu_count()}
    results["plain"] = sweep(start_plain(checkpoint), record, levels, args.requests)
    for ingress in ("haproxy", "proxy"):
        for batch in (32, 1):
            name = f"serve_{ingress}_batch{batch}"
            # The wait is set: a checkpoint keeps the serve settings it was trained with.
            settings = [f"serve.max_batch_size={batch}", "serve.batch_wait_timeout_s=0"]
            server = start_serve(checkpoint, [f"serve.ingress={ingress}", *settings])
            results[name] = sweep(server, record, levels, args.requests)
    results["seconds_to_second_replica"] = time_to_second_replica(checkpoint, record)
    plain_c1 = results["plain"][0]["p50_ms"]
    plain_top = max(level["rps"] for level in results["plain"])
    results["summary"] = {
        name: {
            "added_p50_ms_at_c1": round(levels_[0]["p50_ms"] - plain_c1, 3),
            "peak_rps_ratio_to_plain": round(max(lv["rps"] for lv in levels_) / plain_top, 3),
        }
        for name, levels_ in results.items()
        if name.startswith("serve_")
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
