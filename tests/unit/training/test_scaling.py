"""What a run asks of the cluster: workers plus a CPU for Ray Data; Ray Train's scaling config."""

from __future__ import annotations

import pytest

from raylight.errors import ClusterError
from raylight.spec.schema import ResourcesSpec
from raylight.training.scaling import (
    build_scaling_config,
    check_fits_cluster,
    max_concurrent_runs,
    train_workers,
)

TWO_WORKERS = ResourcesSpec(num_workers=2)


def test_a_run_needs_its_workers_plus_one_cpu_for_ray_data() -> None:
    check_fits_cluster(TWO_WORKERS, num_cpus=3, num_gpus=0)
    with pytest.raises(ClusterError, match=r"need 3 CPUs; the cluster has 2"):
        check_fits_cluster(TWO_WORKERS, num_cpus=2, num_gpus=0)
    with pytest.raises(ClusterError, match="GPUs"):
        check_fits_cluster(ResourcesSpec(gpus_per_worker=1), num_cpus=8, num_gpus=1)


@pytest.mark.parametrize(("cpus", "expected"), [(2, 1), (5, 2), (8, 3), (9, 4)])
def test_concurrent_runs_leave_a_cpu_for_ray_data(cpus: int, expected: int) -> None:
    assert max_concurrent_runs(TWO_WORKERS, cpus) == expected


def test_the_specs_placement_strategy_reaches_ray_train() -> None:
    assert build_scaling_config(ResourcesSpec()).placement_strategy == "PACK"
    spread = build_scaling_config(ResourcesSpec(placement_strategy="SPREAD"))
    assert spread.placement_strategy == "SPREAD" and spread.num_workers == 2


def test_a_train_of_an_in_process_sweep_spec_runs_one_worker() -> None:
    resources = ResourcesSpec(num_workers=0)
    assert train_workers(resources) == 1
    assert build_scaling_config(resources).num_workers == 1
