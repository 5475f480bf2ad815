"""Resource arithmetic that keeps runs, sweeps and endpoints from waiting forever."""

from __future__ import annotations

import pytest

from raylight.errors import ClusterError
from raylight.serving.deployment import serve_cpus
from raylight.spec.schema import AutoscalingSpec, ResourcesSpec, ServeSpec, Spec
from raylight.training.scaling import check_fits_cluster, max_concurrent_runs
from raylight.tuning.tuner import trial_concurrency
from raylight.workflow import required_cpus

TWO_WORKERS = ResourcesSpec(num_workers=2)


def spec_with(**sections: object) -> Spec:
    return Spec.model_validate(
        {
            "spec_version": 1,
            "name": "tiny",
            "data": {"source": {"format": "parquet", "path": "x.parquet"}, "label": "y"},
            "model": {"builder": "m:b"},
            **sections,
        }
    )


def test_a_run_needs_its_workers_plus_one_cpu_for_ray_data() -> None:
    check_fits_cluster(TWO_WORKERS, num_cpus=3, num_gpus=0)
    with pytest.raises(ClusterError, match=r"need 3 CPUs; the cluster has 2"):
        check_fits_cluster(TWO_WORKERS, num_cpus=2, num_gpus=0)
    with pytest.raises(ClusterError, match="GPUs"):
        check_fits_cluster(ResourcesSpec(gpus_per_worker=1), num_cpus=8, num_gpus=1)


@pytest.mark.parametrize(("cpus", "expected"), [(2, 1), (5, 2), (8, 3), (9, 4)])
def test_concurrent_runs_leave_a_cpu_for_ray_data(cpus: int, expected: int) -> None:
    assert max_concurrent_runs(TWO_WORKERS, cpus) == expected


def test_trial_concurrency_is_capped_at_what_fits() -> None:
    spec = spec_with()
    assert trial_concurrency(None, spec, 8) == 3
    assert trial_concurrency(2, spec, 8) == 2
    assert trial_concurrency(6, spec, 8) == 3


def test_serve_cpus_count_autoscaling_at_its_maximum() -> None:
    assert serve_cpus(ServeSpec(num_replicas=3, cpus_per_replica=0.5)) == 1.5
    assert serve_cpus(ServeSpec(autoscaling=AutoscalingSpec(max_replicas=4))) == 2.0


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
