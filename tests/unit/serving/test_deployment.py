"""Deployments without Ray: the CPUs an endpoint holds, and side-by-side models' routes."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylight.errors import TargetError
from raylight.serving.deployment import serve_cpus, side_by_side
from raylight.serving.targets import Lineage, ServeTarget
from raylight.spec.schema import AutoscalingSpec, ServeSpec


def test_serve_cpus_count_autoscaling_at_its_maximum() -> None:
    assert serve_cpus(ServeSpec(num_replicas=3, cpus_per_replica=0.5)) == 1.5
    assert serve_cpus(ServeSpec(autoscaling=AutoscalingSpec(max_replicas=4))) == 2.0


def a_target(name: str, route: str = "/", port: int = 8000) -> ServeTarget:
    return ServeTarget(Path("/ckpt") / name, ServeSpec(route=route, port=port), name, Lineage())


def test_side_by_side_gives_each_model_its_own_route() -> None:
    placed = side_by_side([a_target("a"), a_target("b", "/models/b")])
    assert [t.serve_spec.route for t in placed] == ["/a", "/models/b"]
    assert side_by_side([a_target("a")])[0].serve_spec.route == "/"  # alone: as asked
    with pytest.raises(TargetError, match="both named 'a'"):
        side_by_side([a_target("a"), a_target("a", "/x")])
    with pytest.raises(TargetError, match="share the route /x"):
        side_by_side([a_target("a", "/x"), a_target("b", "/x")])
    with pytest.raises(TargetError, match=r"serve\.port"):
        side_by_side([a_target("a"), a_target("b", port=9000)])
