"""Where a run's Ray Train workers live, observed from Ray's actor table while it trains.

On a cluster the question "did my workers spread over the nodes, and where did they go after a
node died?" is otherwise answered by digging through the dashboard. The driver polls Ray's state
API for this job's live Train workers and reports each new full placement: when the group starts,
and again when it restarts after a failure. Every placement is kept in the run directory.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from raylight.training.polling import polling

PLACEMENT_FILE = "placement.jsonl"
WORKER_CLASS = "RayTrainWorker"  # Ray Train V2's worker actor

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """The node id of every live worker of the run, sorted."""

    nodes: tuple[str, ...]

    def describe(self) -> str:
        counts = Counter(self.nodes)
        spread = ", ".join(f"{node[:8]} x{count}" for node, count in sorted(counts.items()))
        return f"{len(self.nodes)} workers on {len(counts)} node(s): {spread}"


PlacementCallback = Callable[[Placement], None]


def live_workers(job_id: str) -> Placement:
    """This job's alive Train workers, from the state API (the dashboard answers it)."""
    from ray.util.state import list_actors

    actors = list_actors(
        filters=[
            ("class_name", "=", WORKER_CLASS),
            ("state", "=", "ALIVE"),
            ("job_id", "=", job_id),
        ],
        limit=10_000,
        timeout=10,
        raise_on_missing_output=False,
    )
    return Placement(tuple(sorted(actor.node_id or "?" for actor in actors)))


def read_placements(run_path: Path) -> list[Placement]:
    path = run_path / PLACEMENT_FILE
    if not path.is_file():
        return []
    return [
        Placement(tuple(json.loads(line)["nodes"]))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


@contextmanager
def watch_placement(
    run_path: Path, workers: int, emit: PlacementCallback, poll_s: float = 2.0
) -> Iterator[None]:
    """While the block runs, report each new placement of all `workers` workers.

    A partial group (starting, or losing workers) is not reported; the state API being
    unavailable only turns the watch off, never the run.
    """
    import ray

    job_id = ray.get_runtime_context().get_job_id()
    last: Placement | None = None

    def watch(final: bool) -> bool:
        nonlocal last
        if final:
            return False
        try:
            placement = live_workers(job_id)
        except Exception as error:
            logger.debug("placement watch stopped: %s", error)
            return False
        if len(placement.nodes) == workers and placement != last:
            last = placement
            _append(run_path / PLACEMENT_FILE, placement)
            emit(placement)
        return True

    with polling(watch, poll_s=poll_s, name="raylight-placement", join_timeout_s=poll_s + 12):
        yield


def _append(path: Path, placement: Placement) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as file:
        file.write(json.dumps({"at": round(time.time(), 3), "nodes": list(placement.nodes)}) + "\n")
