"""`serve --export`: the committed deploy files match it; a RayService keeps the token secret."""

from __future__ import annotations

from pathlib import Path

import yaml
from ray.serve.schema import ServeDeploySchema

from raylight.serving.export import serve_config, write_export
from tests.conftest import DIGITS_SPEC, ROOT


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
