"""cluster.py without starting Ray: the runtime environment, the token lookup, connect's hooks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import raylight
from raylight import cluster
from raylight.cluster import (
    RAY_ENV_DEFAULTS,
    UPLOAD_EXCLUDES,
    ClusterInfo,
    build_runtime_env,
    connect,
    embedded_num_cpus,
    find_token,
)


def test_an_embedded_rays_workers_import_the_project_from_this_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", "/opt/extra")
    env = build_runtime_env(tmp_path, {"OMP_NUM_THREADS": "1"}, upload=False)
    assert env == {
        "env_vars": {
            **RAY_ENV_DEFAULTS,
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": f"{tmp_path}:/opt/extra",
        }
    }


def test_a_remote_clusters_workers_get_the_project_and_raylight_uploaded(tmp_path: Path) -> None:
    env = build_runtime_env(tmp_path, {"A": "1"}, upload=True, pip_packages=["six"])
    assert env["working_dir"] == str(tmp_path) and env["excludes"] == UPLOAD_EXCLUDES
    assert env["py_modules"] == [str(Path(raylight.__file__).parent)]
    assert env["env_vars"] == {**RAY_ENV_DEFAULTS, "A": "1"}
    assert env["pip"] == {"packages": ["six"]}
    assert "PYTHONPATH" not in env["env_vars"]  # the uploaded working dir is on the path there


def test_the_spec_env_wins_over_rays_defaults(tmp_path: Path) -> None:
    name = next(iter(RAY_ENV_DEFAULTS))
    env = build_runtime_env(tmp_path, {name: "mine"}, upload=False)
    assert env["env_vars"][name] == "mine"  # type: ignore[index]


def test_the_token_comes_from_the_environment_then_the_file_and_never_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "auth_token"
    token_file.write_text("from-file\n")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token_file))
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    token = find_token()
    assert token is not None and token.value == "from-env"
    assert "from-env" not in repr(token) and "from-env" not in f"{token!r}"
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    token = find_token()
    assert token is not None and (token.value, token.source) == ("from-file", str(token_file))
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    assert find_token() is None


def test_an_embedded_ray_may_have_more_cpu_slots_than_cores() -> None:
    assert embedded_num_cpus(0.5) >= 1
    assert embedded_num_cpus(1000.2) == 1001


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """connect() with the embedded start recorded instead of run (unit tier: no Ray)."""
    calls: list[dict[str, Any]] = []

    def start(num_cpus: int | None, runtime_env: dict[str, object], verbose: bool) -> Any:
        calls.append({"num_cpus": num_cpus, "runtime_env": runtime_env})
        return None, None

    info = ClusterInfo("local", is_embedded=True, num_cpus=2, num_gpus=0, dashboard_url=None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(cluster, "_start_embedded", start)
    monkeypatch.setattr(cluster, "_describe", lambda *a, **k: info)
    monkeypatch.setattr(cluster, "_quiet_ray_libraries", lambda: None)
    yield calls


def test_connect_passes_the_worker_setup_hook_it_is_given(
    started: list[dict[str, Any]], tmp_path: Path
) -> None:
    with connect(num_cpus=3, project_root=tmp_path, worker_setup_hook="pkg.mod.hook"):
        pass
    with connect(num_cpus=3, project_root=tmp_path):
        pass
    assert started[0]["runtime_env"]["worker_process_setup_hook"] == "pkg.mod.hook"
    assert "worker_process_setup_hook" not in started[1]["runtime_env"]


def test_connect_uses_a_cluster_it_is_handed_without_starting_one(
    started: list[dict[str, Any]],
) -> None:
    mine = ClusterInfo("local", is_embedded=True, num_cpus=8, num_gpus=0, dashboard_url=None)
    with connect(existing=mine) as info:
        assert info is mine
    assert started == []
