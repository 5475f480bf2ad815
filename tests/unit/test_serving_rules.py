"""Serving rules without Ray: the HTTP guard, ingress choice, side-by-side routes, exports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from ray.serve.schema import ServeDeploySchema

from raylight.cli.serve import split_targets
from raylight.errors import ClusterError, TargetError
from raylight.preprocessing.sources import frame_fingerprint
from raylight.serving.app import read_token
from raylight.serving.deployment import side_by_side
from raylight.serving.export import serve_config, write_export
from raylight.serving.http import make_api, token_digest
from raylight.serving.ingress import HAPROXY_BINARY, HAPROXY_SWITCH, choose_ingress
from raylight.serving.targets import Lineage, ServeTarget
from raylight.spec.schema import ServeSpec
from tests.conftest import DIGITS_SPEC, ROOT


def guarded_client(token: str | None = None, max_body_bytes: int = 2048) -> TestClient:
    api = make_api(
        "t", max_body_bytes=max_body_bytes, token_sha256=token_digest(token) if token else None
    )

    @api.post("/predict")
    async def predict(body: list[int]) -> dict[str, int]:
        return {"n": len(body)}

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return TestClient(api)


def test_token_is_required_everywhere_but_healthz() -> None:
    client = guarded_client(token="s3cret")
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic s3cret"}):
        response = client.post("/predict", json=[1], headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"].startswith("missing or wrong bearer token")
        assert "s3cret" not in response.text
    assert client.get("/healthz").status_code == 200
    ok = client.post("/predict", json=[1, 2], headers={"Authorization": "Bearer s3cret"})
    assert ok.json() == {"n": 2}


def test_bodies_over_the_limit_get_413_declared_or_streamed() -> None:
    client = guarded_client(max_body_bytes=2048)
    assert client.post("/predict", json=[1] * 100).status_code == 200
    declared = client.post("/predict", json=[1] * 2000)
    assert declared.status_code == 413 and "max_body_bytes" in declared.json()["error"]
    streamed = client.post(
        "/predict",
        content=iter([b"[" + b"1," * 700, b"1," * 700, b"1]"]),
        headers={"Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


def test_public_host_without_a_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAYLIGHT_SERVE_TOKEN", raising=False)
    with pytest.raises(TargetError, match="RAYLIGHT_SERVE_TOKEN"):
        read_token(ServeSpec(host="0.0.0.0"))
    assert read_token(ServeSpec(host="0.0.0.0", allow_public=True)) is None
    assert read_token(ServeSpec()) is None  # 127.0.0.1: fine without one
    monkeypatch.setenv("MY_TOKEN", "abc")
    assert read_token(ServeSpec(host="0.0.0.0", auth_token_env="MY_TOKEN")) == "abc"


def test_ingress_choice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(HAPROXY_SWITCH, raising=False)
    assert choose_ingress("proxy").kind == "proxy"
    binary = tmp_path / "haproxy"
    binary.write_text("")
    monkeypatch.setenv(HAPROXY_BINARY, str(binary))
    assert choose_ingress("auto").kind == "haproxy"
    assert choose_ingress("haproxy").reason == str(binary)


def test_haproxy_without_a_binary_is_a_clear_error_and_auto_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import raylight.serving.ingress as ingress

    monkeypatch.delenv(HAPROXY_SWITCH, raising=False)
    monkeypatch.setattr(ingress, "haproxy_binary", lambda: None)
    with pytest.raises(ClusterError, match=r"no haproxy binary"):
        choose_ingress("haproxy")
    fallback = choose_ingress("auto")
    assert fallback.kind == "proxy" and "no haproxy binary" in fallback.describe()


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


def test_export_matches_the_committed_deploy_files_and_ray_schema() -> None:
    config = serve_config([str(DIGITS_SPEC.relative_to(ROOT))], [], ROOT)
    ServeDeploySchema.model_validate(config)  # Ray's own schema for `serve deploy` files
    committed = yaml.safe_load((ROOT / "deploy" / "digits.yaml").read_text())
    assert committed == config, "deploy/digits.yaml is stale: rerun the --export command in it"
    service = yaml.safe_load((ROOT / "deploy" / "digits.rayservice.yaml").read_text())
    assert service["apiVersion"] == "ray.io/v1" and service["kind"] == "RayService"
    in_cluster = yaml.safe_load(service["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(in_cluster)
    # the same apps, which refuse to start on the public host without their token
    assert [a["args"].pop("require_token") for a in in_cluster["applications"]] == [True]
    assert in_cluster["applications"] == config["applications"]
    assert in_cluster["http_options"] == {**config["http_options"], "host": "0.0.0.0"}
    cluster = service["spec"]["rayClusterConfig"]
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert cluster["rayVersion"].startswith("2.60")
    assert {"image", "name", "resources"} <= set(head)
    token = next(e for e in head["env"] if e["name"] == "RAYLIGHT_SERVE_TOKEN")
    assert "secretKeyRef" in token["valueFrom"]  # a Secret, never a literal token
    for group in cluster["workerGroupSpecs"]:
        assert {"groupName", "rayStartParams", "template"} <= set(group)


def test_rayservice_passes_the_specs_own_token_variable(tmp_path: Path) -> None:
    spec = tmp_path / "custom.yaml"
    spec.write_text(
        DIGITS_SPEC.read_text().replace("serve:\n", "serve:\n  auth_token_env: MY_TOKEN\n", 1)
    )
    (tmp_path / "pyproject.toml").write_text("")
    _, service_file = write_export(tmp_path / "out.yaml", [str(spec)], [], tmp_path)
    service = yaml.safe_load(service_file.read_text())
    head = service["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
    assert [e["name"] for e in head["containers"][0]["env"]] == ["MY_TOKEN"]


def test_overrides_alone_are_not_a_target(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no target"):
        split_targets(["serve.port=9001"])
    odd = tmp_path / "run=3"
    odd.mkdir()
    assert split_targets([str(odd), "serve.port=9001"]) == ([str(odd)], ["serve.port=9001"])


def test_loopback_hook_patches_the_haproxy_template_when_serve_imports_it() -> None:
    code = (
        "from raylight.serving.loopback import loopback_haproxy_admin\n"
        "loopback_haproxy_admin()\n"
        "from ray.serve._private import haproxy\n"
        "t = haproxy.HAPROXY_CONFIG_TEMPLATE\n"
        "assert 'bind 127.0.0.1:{{ config.stats_port }}' in t, 'stats'\n"
        "assert 'bind 127.0.0.1:{{ config.metrics_port }}' in t, 'metrics'\n"
        "assert 'bind *:' not in t and 'bind :' not in t\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]


def test_data_builder_frames_with_unhashable_cells_still_get_a_fingerprint() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "tags": [["a"], ["b", "c"]]})
    changed = pd.DataFrame({"x": [1.0, 2.0], "tags": [["a"], ["b"]]})
    assert frame_fingerprint(frame).startswith("sha256:")
    assert frame_fingerprint(frame) != frame_fingerprint(changed)


def test_request_schema_types_ids_as_in_training_and_accepts_unseen_ones() -> None:
    from pydantic import TypeAdapter, ValidationError

    from raylight.preprocessing.transforms import CategoricalStep, FittedPreprocessing, ScalingStep
    from raylight.serving.schemas import request_body

    fitted = FittedPreprocessing(
        feature_columns=("user", "item", "shop", "price"),
        label_column="clicked",
        task="classification",
        label_classes=(0, 1),
        steps=(
            CategoricalStep(
                ("user", "item", "shop"), ((7, 3), ("b", "a"), ()), ("int", "str", "int")
            ),
            ScalingStep("standardize", ("price",), (0.0,), (1.0,)),
        ),
        example_record={"user": 7, "item": "b", "shop": 4, "price": 1.0},
    )
    body = TypeAdapter(request_body("ctr", fitted, ServeSpec()))
    ok = {"user": 7, "item": "a", "shop": 4, "price": 2.5}
    for good in (
        ok,
        fitted.example_record,
        {**ok, "user": 123456, "item": "never-seen"},  # unseen ids: the unknown index
        [{**ok, "user": None, "item": None, "shop": None}],
    ):
        body.validate_json(json.dumps(good))
    for bad in (
        {**ok, "user": "7"},  # a string for an integer id
        {**ok, "item": 5},  # a number for a string id
        {**ok, "user": 7.5},
        {**ok, "shop": "4"},  # typed from the data even with an empty vocabulary
        {**ok, "user": True},
        {**ok, "item": "x" * 5000},
        {k: v for k, v in ok.items() if k != "price"},
        {**ok, "price": "1"},
    ):
        with pytest.raises(ValidationError):
            body.validate_json(json.dumps(bad))
