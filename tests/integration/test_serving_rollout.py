"""Serving under load on real Serve: replica death, rolling update, autoscaling, overload, auth.

Each test deploys its own app beside the others (own name and route) on the session's Serve,
puts real HTTP load on 127.0.0.1 from a few client threads, and removes the app at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
import requests
from ray import serve
from ray.util.state import list_actors

from raylight.runs.checkpoints import META_FILE
from raylight.serving.deployment import ServingEndpoint, deploy, run_serving
from raylight.serving.targets import Lineage, ServeTarget
from raylight.spec import LoadedSpec
from raylight.spec.schema import AutoscalingSpec
from raylight.training import TrainingResult
from tests.integration.http_load import Load, wait_until

RECORD = {f"pixel_{i}": float(i % 16) for i in range(64)}


def target(digits: LoadedSpec, checkpoint: Path, app: str, **serve_settings: object) -> ServeTarget:
    spec = digits.spec.serve.model_copy(update={"route": f"/{app}", **serve_settings})
    return ServeTarget(checkpoint, spec, app, Lineage(), digits.project_root)


@pytest.fixture
def apps() -> Iterator[list[str]]:
    """Names of the apps a test deployed; deleted afterwards whatever happened."""
    names: list[str] = []
    yield names
    for name in names:
        serve.delete(name)


def _count_running(app_status: object) -> int:
    deployments = app_status.deployments.values()  # type: ignore[attr-defined]
    return sum(d.replica_states.get("RUNNING", 0) for d in deployments)


def earlier_checkpoint(trained: TrainingResult) -> Path:
    """Another servable checkpoint of the same run: a different model for the same route."""
    others = sorted(
        p.parent
        for p in trained.run_path.glob(f"*/{META_FILE}")
        if p.parent != trained.checkpoint_path
    )
    assert others, f"no second checkpoint under {trained.run_path}"
    return others[0]


def test_rolling_update_to_a_new_checkpoint_drops_no_request(
    digits: LoadedSpec, trained_digits: TrainingResult, apps: list[str]
) -> None:
    old, new = trained_digits.checkpoint_path, earlier_checkpoint(trained_digits)
    apps.append("rolling")
    endpoint = deploy(target(digits, old, "rolling"))
    metadata_url = endpoint.url + "/metadata"
    assert requests.get(metadata_url, timeout=10).json()["checkpoint_path"] == str(old)
    old_replicas = replica_ids("rolling")
    with Load(endpoint.predict_url, RECORD, clients=4) as load:
        answered(load, 20, "requests before the update")
        deploy(target(digits, new, "rolling"))  # same app, same route: Serve rolls it
        wait_until(
            lambda: requests.get(metadata_url, timeout=10).json()["checkpoint_path"] == str(new),
            60,
            "the new checkpoint to answer /metadata",
        )
        # The old replicas drain and stop while the load goes on, then more requests land.
        wait_until(lambda: not old_replicas & replica_ids("rolling"), 90, "old replicas to stop")
        answered(load, load.total + 20, "requests after the old replicas stopped")
    print(f"rolling update under load: first tries {dict(load.first)}")
    assert load.first == {"200": load.total}, load.first  # not even a retry was needed


def test_killed_replica_is_replaced_while_requests_keep_succeeding(
    digits: LoadedSpec, trained_digits: TrainingResult, apps: list[str]
) -> None:
    apps.append("replicated")
    endpoint = deploy(target(digits, trained_digits.checkpoint_path, "replicated", num_replicas=2))
    before = {a.actor_id for a in _replicas("replicated")}
    assert len(before) == 2
    with Load(endpoint.predict_url, RECORD, clients=4) as load:
        answered(load, 20, "requests before the kill")
        victim = _replicas("replicated")[0]
        os.kill(victim.pid, 9)  # the replica's process, for real
        wait_until(
            lambda: (
                len({a.actor_id for a in _replicas("replicated")} - before) >= 1
                and len(_replicas("replicated")) == 2
                and _count_running(serve.status().applications["replicated"]) == 2
            ),
            90,
            "a new replica to replace the killed one",
        )
        answered(load, load.total + 20, "requests after the replacement")
    print(f"replica killed under load: first {dict(load.first)}, after retry {dict(load.final)}")
    assert load.succeeded() >= 0.999, (load.first, load.final)


def answered(load: Load, count: int, what: str) -> None:
    """Wait until the load has `count` answered requests (however fast the machine is)."""
    wait_until(lambda: load.total >= count, 120, f"{count} {what}", interval_s=0.1)


def replica_ids(app: str) -> set[str]:
    return {actor.actor_id for actor in _replicas(app)}  # type: ignore[attr-defined]


def _replicas(app: str) -> list[object]:
    return [
        actor
        for actor in list_actors(filters=[("state", "=", "ALIVE")], limit=1000, detail=True)
        if actor.class_name == f"ServeReplica:{app}:digits-model"
    ]


def test_load_step_scales_up_and_back_down_without_errors(
    digits: LoadedSpec, trained_digits: TrainingResult, apps: list[str]
) -> None:
    autoscaling = AutoscalingSpec(
        min_replicas=1,
        max_replicas=2,
        target_ongoing_requests=1,
        upscale_delay_s=1,
        downscale_delay_s=2,
    )
    apps.append("scaling")
    endpoint = deploy(
        target(digits, trained_digits.checkpoint_path, "scaling", autoscaling=autoscaling)
    )
    running = lambda: _count_running(serve.status().applications["scaling"])  # noqa: E731
    assert running() == 1
    big = [RECORD] * 256  # a slower request, so that requests overlap
    with Load(endpoint.predict_url, big, clients=6) as load:
        started = time.monotonic()
        wait_until(lambda: running() >= 2, 60, "a second replica under load")
        scaled_up_after = time.monotonic() - started
    wait_until(lambda: running() == 1, 90, "scaling back to one replica when idle")
    print(f"second replica running {scaled_up_after:.1f} s after the load step; {dict(load.first)}")
    assert load.total > 0 and load.first == {"200": load.total}, load.first


def test_overload_is_answered_503_with_retry_after(
    digits: LoadedSpec, trained_digits: TrainingResult, apps: list[str]
) -> None:
    apps.append("overloaded")
    endpoint = deploy(
        target(
            digits,
            trained_digits.checkpoint_path,
            "overloaded",
            max_ongoing_requests=1,
            max_queued_requests=1,
        )
    )
    big = [RECORD] * 1024
    with Load(endpoint.predict_url, big, clients=8) as load:
        wait_until(lambda: load.first["503"] >= 3, 60, "requests refused for overload")
    assert set(load.first) <= {"200", "503"}, load.first  # refused or answered: never a 500
    assert load.first["200"] > 0
    assert load.refusal_headers.get("Retry-After") == "1", load.refusal_headers


def test_a_prediction_over_the_timeout_gets_503_with_retry_after(
    digits: LoadedSpec, trained_digits: TrainingResult, apps: list[str], tmp_path: Path
) -> None:
    # The trained weights in a module whose forward always takes 1 s: a 0.25 s timeout is
    # exceeded by every request, on any machine.
    slow = tmp_path / "slow-checkpoint"
    shutil.copytree(trained_digits.checkpoint_path, slow)
    meta = json.loads((slow / META_FILE).read_text())
    meta["spec"]["model"]["builder"] = "tests.integration.slow_model:build_slow_mlp"
    meta["spec"]["model"]["kwargs"]["delay_s"] = 1.0
    (slow / META_FILE).write_text(json.dumps(meta))
    apps.append("impatient")
    endpoint = deploy(target(digits, slow, "impatient", request_timeout_s=0.25))
    responses = [requests.post(endpoint.predict_url, json=RECORD, timeout=30) for _ in range(2)]
    assert [r.status_code for r in responses] == [503, 503], [r.text for r in responses]
    assert responses[0].headers["Retry-After"] == "1"
    assert "request_timeout_s" in responses[0].json()["error"]


def test_bearer_token_guards_every_route_but_healthz_and_is_never_logged(
    digits: LoadedSpec,
    trained_digits: TrainingResult,
    apps: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "rl-test-" + os.urandom(12).hex()
    monkeypatch.setenv("RAYLIGHT_SERVE_TOKEN", token)
    apps.append("secured")
    endpoint = deploy(target(digits, trained_digits.checkpoint_path, "secured"))
    assert endpoint.token_env == "RAYLIGHT_SERVE_TOKEN"
    good = {"Authorization": f"Bearer {token}"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
        response = requests.post(endpoint.predict_url, json=RECORD, headers=headers, timeout=10)
        assert response.status_code == 401 and "error" in response.json()
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert requests.get(endpoint.url + "/metadata", timeout=10).status_code == 401
    assert requests.get(endpoint.url + "/openapi.json", timeout=10).status_code == 401
    assert requests.get(endpoint.url + "/healthz", timeout=10).status_code == 200
    ok = requests.post(endpoint.predict_url, json=RECORD, headers=good, timeout=10)
    assert ok.status_code == 200, ok.text
    logs = Path(ray._private.worker.global_worker.node.get_logs_dir_path())
    leaked = [p.name for p in logs.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert leaked == []


def test_two_models_side_by_side_each_on_its_own_route(
    digits: LoadedSpec, trained_digits: TrainingResult, apps: list[str]
) -> None:
    second = earlier_checkpoint(trained_digits)
    checkpoints = [str(trained_digits.checkpoint_path), str(second)]
    # Both checkpoints are of the spec 'digits': one is renamed so the two apps differ.
    targets = [
        target(digits, Path(checkpoints[0]), "digits-a", route="/"),
        target(digits, Path(checkpoints[1]), "digits-b", route="/"),
    ]
    apps.extend(["digits-a", "digits-b"])
    endpoints: list[ServingEndpoint] = run_serving(targets, block=False)
    assert [e.url.rsplit("/", 1)[1] for e in endpoints] == ["digits-a", "digits-b"]
    for endpoint, checkpoint in zip(endpoints, checkpoints, strict=True):
        assert requests.post(endpoint.predict_url, json=RECORD, timeout=10).status_code == 200
        metadata = requests.get(endpoint.url + "/metadata", timeout=10).json()
        assert metadata["checkpoint_path"] == checkpoint
