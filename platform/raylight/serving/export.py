"""`raylight serve ... --export FILE`: the same deployment as a Serve config and a RayService.

The Serve config points at the typed builder `raylight.serving.app:build_app`, so `serve run`,
`serve deploy` and KubeRay build exactly what `raylight serve` deploys. It names the spec (or
checkpoint) rather than copying settings, so the config follows the spec's `serve` section.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from raylight.serving.app import ServeAppArgs
from raylight.serving.deployment import side_by_side
from raylight.serving.targets import Lineage, ServeTarget, resolve_target
from raylight.spec import load_spec

BUILDER = "raylight.serving.app:build_app"
RAY_IMAGE_TAG = "raylight:0.1.0-cpu"  # built by deploy/Dockerfile
HEADER = """\
# Ray Serve config written by `raylight serve {targets} --export {path}`.
#   serve run {path}                      # local Ray + Serve; run from the project root
#   serve deploy {path} -a http://HEAD:8265   # onto a running cluster (project on its path)
# build_app resolves each target when the app starts: a spec serves its latest finished run,
# with replicas, batching, limits and auth from the spec's `serve` section.
"""


def serve_config(targets: Sequence[str], overrides: Sequence[str], cwd: Path) -> dict[str, Any]:
    """A Serve config (`ServeDeploySchema`) deploying `targets` side by side."""
    resolved = side_by_side([_export_target(t, overrides) for t in targets])
    first = resolved[0].serve_spec
    applications = []
    for given, target in zip(targets, resolved, strict=True):
        is_spec = _is_spec(given)
        args = ServeAppArgs(
            spec_path=_relative(Path(given), cwd) if is_spec else None,
            checkpoint_path=None if is_spec else str(target.checkpoint_path),
            overrides=list(overrides),
        )
        applications.append(
            {
                "name": target.app_name,
                "route_prefix": target.serve_spec.route,
                "import_path": BUILDER,
                "args": args.model_dump(exclude_defaults=True, exclude_none=True),
            }
        )
    return {
        "proxy_location": "HeadOnly",
        "http_options": {"host": first.host, "port": first.port},
        "applications": applications,
    }


def _is_spec(target: str) -> bool:
    return Path(target).suffix in (".yaml", ".yml")


def _export_target(target: str, overrides: Sequence[str]) -> ServeTarget:
    """A spec needs no finished run to be exported: the app resolves its run when it starts."""
    if not _is_spec(target):
        return resolve_target(target, overrides)
    loaded = load_spec(target, overrides)
    return ServeTarget(
        checkpoint_path=Path(),
        serve_spec=loaded.spec.serve,
        app_name=loaded.spec.name,
        lineage=Lineage(),
        project_root=loaded.project_root,
    )


def rayservice_manifest(
    name: str, config: dict[str, Any], token_variables: Sequence[str]
) -> dict[str, Any]:
    """A KubeRay RayService whose serveConfigV2 is `config` on a public host, tokens required."""
    in_cluster = {
        **config,
        "http_options": {**config["http_options"], "host": "0.0.0.0"},
        "applications": [
            {**app, "args": {**app["args"], "require_token": True}}
            for app in config["applications"]
        ],
    }
    container = {
        "image": RAY_IMAGE_TAG,
        "workingDir": "/app",
        "volumeMounts": [{"name": "runs", "mountPath": "/root/raylight_runs"}],
        "env": [
            {
                "name": variable,
                "valueFrom": {"secretKeyRef": {"name": f"{name}-serve-token", "key": variable}},
            }
            for variable in token_variables
        ],
    }
    volumes = [{"name": "runs", "persistentVolumeClaim": {"claimName": "raylight-runs"}}]
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": name},
        "spec": {
            "serveConfigV2": dump(in_cluster),
            "rayClusterConfig": {
                "rayVersion": "2.60.0",
                "authOptions": {"mode": "token"},  # KubeRay >= 1.5.1, as cluster/kuberay/
                "headGroupSpec": {
                    "rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": "0"},
                    "template": {
                        "spec": {
                            "securityContext": {"fsGroup": 100},  # the image's `ray` group
                            "containers": [
                                {
                                    **container,
                                    "name": "ray-head",
                                    "ports": [
                                        {"containerPort": 6379, "name": "gcs"},
                                        {"containerPort": 8265, "name": "dashboard"},
                                        {
                                            "containerPort": config["http_options"]["port"],
                                            "name": "serve",
                                        },
                                    ],
                                    "resources": _resources("2", "4Gi"),
                                }
                            ],
                            "volumes": volumes,
                        }
                    },
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "cpu",
                        "replicas": 1,
                        "minReplicas": 1,
                        "maxReplicas": 4,
                        "rayStartParams": {},
                        "template": {
                            "spec": {
                                "securityContext": {"fsGroup": 100},
                                "containers": [
                                    {
                                        **container,
                                        "name": "ray-worker",
                                        "resources": _resources("2", "4Gi"),
                                    }
                                ],
                                "volumes": volumes,
                            }
                        },
                    }
                ],
            },
        },
    }


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (serveConfigV2 stays readable), no &anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def dump(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False)


def _resources(cpu: str, memory: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}


def write_export(
    path: Path, targets: Sequence[str], overrides: Sequence[str], cwd: Path
) -> tuple[Path, Path]:
    """Write the Serve config to `path` and the RayService next to it (`<stem>.rayservice.yaml`)."""
    config = serve_config(targets, overrides, cwd)
    variables = sorted({_export_target(t, overrides).serve_spec.auth_token_env for t in targets})
    header = HEADER.format(targets=" ".join(targets), path=_relative(path, cwd))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + dump(config))
    service = path.with_name(f"{path.stem}.rayservice.yaml")
    name = config["applications"][0]["name"].replace("_", "-").replace(".", "-")
    service.write_text(
        f"# KubeRay RayService written with {path.name}: its serveConfigV2 is that config with "
        "http_options.host 0.0.0.0\n"
        "# (the pod's Service must reach it; RAYLIGHT_SERVE_TOKEN from a Secret guards it).\n"
        + dump(rayservice_manifest(name, config, variables))
    )
    return path, service


def _relative(path: Path, cwd: Path) -> str:
    absolute = path.expanduser().resolve()
    try:
        return str(absolute.relative_to(cwd.resolve()))
    except ValueError:
        return str(absolute)
