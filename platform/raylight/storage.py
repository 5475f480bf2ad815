"""Preflight: can every node write and read the run's storage path, before anything trains?

A storage_path on one machine's local disk works with an embedded Ray and fails on a cluster
the first time a worker on another node writes a checkpoint, usually minutes into the run.
This check writes a marker from the driver, then has a task pinned to each alive node read
that marker and write its own, so the error comes first and names the nodes that cannot.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raylight.cluster import ClusterInfo
from raylight.errors import ClusterError

SHARED_HINT = (
    "On a multi-node cluster run.storage_path must be shared storage (NFS, a mounted bucket) "
    "at the same path on every node."
)


def check_storage(path: Path, cluster: ClusterInfo) -> None:
    """Raise ClusterError unless this process and every node can write and read `path`."""
    marker = path / f".raylight-preflight-{secrets.token_hex(4)}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        marker.write_text("driver")
    except OSError as error:
        raise ClusterError(
            f"run.storage_path {path} is not writable here ({error.strerror or error}). "
            "Point it at a directory this user can create and write."
        ) from None
    try:
        if not cluster.is_embedded:  # an embedded Ray is this machine: the write above suffices
            failures = _failures_on_nodes(marker)
            if failures:
                lines = "\n".join(f"    node {node}: {problem}" for node, problem in failures)
                raise ClusterError(
                    f"run.storage_path {path} is not usable from every node:\n{lines}\n  "
                    + SHARED_HINT
                )
    finally:
        for written in path.glob(f"{marker.name}*"):
            written.unlink(missing_ok=True)


def _failures_on_nodes(marker: Path) -> list[tuple[str, str]]:
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    probes = [
        _probe.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote(str(marker))
        for node in nodes
    ]
    results = ray.get(probes, timeout=120)
    return [
        (node.get("NodeManagerAddress", node["NodeID"]), problem)
        for node, problem in zip(nodes, results, strict=True)
        if problem
    ]


@ray.remote(num_cpus=0)
def _probe(marker: str) -> str | None:
    """On one node: read the driver's marker, write one beside it. None when both work."""
    path = Path(marker)
    try:
        if path.read_text() != "driver":
            return f"{path} holds something else"
    except OSError as error:
        return f"cannot read {path} ({error.strerror or error}): not the driver's storage"
    try:
        (path.parent / f"{path.name}-{ray.get_runtime_context().get_node_id()[:8]}").write_text(
            "node"
        )
    except OSError as error:
        return f"cannot write in {path.parent} ({error.strerror or error})"
    return None
