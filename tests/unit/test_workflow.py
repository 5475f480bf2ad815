"""The CPUs an embedded Ray needs for `raylight run`: the sweep and the endpoint side by side."""

from __future__ import annotations

from raylight.workflow import required_cpus
from tests.unit.conftest import spec_with


def test_embedded_ray_for_run_fits_the_sweep_and_the_endpoint() -> None:
    sweep = spec_with(
        tune={
            "max_concurrent_trials": 2,
            "search_space": {"train.epochs": {"type": "grid", "values": [1]}},
        }
    )
    assert required_cpus(sweep) == 2 * 2 + 1
    wide = spec_with(serve={"num_replicas": 16, "cpus_per_replica": 1})
    assert required_cpus(wide) == 17
