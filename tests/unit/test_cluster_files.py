"""Cluster files: `ray up` configs, KubeRay manifests and the Dockerfile, checked as text.

There is no cloud account, Kubernetes or Docker engine here, so nothing is launched, applied or
built: the launcher configs go through the schema and the checks `ray up` runs before it calls a
cloud, the manifests are checked for what KubeRay requires, and every pinned version is compared
with its source of truth (pyproject.toml for Ray, the Makefile for torch, the Dockerfile's header
for image tags).
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import ROOT

LAUNCHER_CONFIGS = [ROOT / "cluster" / "launcher" / name for name in ("aws.yaml", "gcp.yaml")]
RAYCLUSTER = ROOT / "cluster" / "kuberay" / "raycluster.yaml"
RAYJOB = ROOT / "cluster" / "kuberay" / "rayjob.yaml"
STORAGE = ROOT / "cluster" / "kuberay" / "storage.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
RUNS_MOUNT = "/root/raylight_runs"


# ---- sources of truth ------------------------------------------------------------------------


def project_version() -> str:
    # A regex, not tomllib: the project supports Python 3.10, which has no tomllib.
    match = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert match, "pyproject.toml has no project version"
    return match[1]


def ray_requirement() -> Requirement:
    quoted = re.findall(r'^\s*"(ray[\[=<>~! ][^"]*)",', (ROOT / "pyproject.toml").read_text(), re.M)
    (ray,) = [Requirement(q) for q in quoted if Requirement(q).name == "ray"]
    return ray


def makefile_torch_version() -> str:
    match = re.search(r"^TORCH \?= torch==(\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "the Makefile no longer pins TORCH ?= torch==X"
    return match.group(1)


def ray_image_version(image: str) -> Version:
    """`rayproject/ray:2.60.0-py311-cpu` -> 2.60.0 (fails for any other repository)."""
    match = re.fullmatch(r"rayproject/ray:(\d+\.\d+\.\d+)-py3\d+-(cpu|gpu|cu\d+)", image)
    assert match, f"{image} is not a rayproject/ray:<version>-py3XX-<cpu|gpu|cuXXX> tag"
    return Version(match.group(1))


def assert_pinned_ray(image: str) -> None:
    version = ray_image_version(image)
    assert ray_requirement().specifier.contains(version), (
        f"{image} has Ray {version}; pyproject.toml pins {ray_requirement()}"
    )


# ---- ray up configs --------------------------------------------------------------------------


def launcher(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def worker_types(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    types = config["available_node_types"]
    return {name: spec for name, spec in types.items() if name != config["head_node_type"]}


def has_gpu(node_type: dict[str, Any]) -> bool:
    accelerators = node_type["node_config"].get("guestAccelerators", [])
    return node_type["resources"].get("GPU", 0) > 0 or bool(accelerators)


def start_command(commands: list[str], marker: str) -> str:
    (command,) = [c for c in commands if marker in c]
    return command


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=lambda p: p.stem)
def test_launcher_config_passes_rays_schema_and_prelaunch_checks(path: Path) -> None:
    import ray.autoscaler
    from ray.autoscaler._private.util import prepare_config, validate_config

    schema_path = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
    config = launcher(path)
    jsonschema.validate(config, json.loads(schema_path.read_text()))
    # What `ray up` does with the file before it talks to a cloud: merge the provider's
    # defaults, then check node types, head type and worker bounds.
    validate_config(prepare_config(copy.deepcopy(config)))


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=lambda p: p.stem)
def test_launcher_has_cpu_and_gpu_worker_types_within_bounds(path: Path) -> None:
    config = launcher(path)
    workers = worker_types(config)
    gpu = {name for name, spec in workers.items() if has_gpu(spec)}
    assert gpu, "no worker type with GPUs"
    assert set(workers) - gpu, "no CPU-only worker type"
    for name in gpu:
        # Ray does not detect accelerators on every cloud: the autoscaler needs the count.
        assert workers[name]["resources"].get("GPU", 0) >= 1, name
        assert re.search(r"-(gpu|cu\d+)$", workers[name]["docker"]["worker_image"]), name
    head = config["available_node_types"][config["head_node_type"]]
    assert head.get("max_workers", 0) == 0 and head.get("min_workers", 0) == 0
    for name, spec in workers.items():
        assert 0 <= spec["min_workers"] <= spec["max_workers"] <= config["max_workers"], name
    assert sum(spec["min_workers"] for spec in workers.values()) <= config["max_workers"]


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=lambda p: p.stem)
def test_launcher_installs_this_checkout_at_pinned_versions(path: Path) -> None:
    config = launcher(path)
    torch = f"torch=={makefile_torch_version()}"
    assert config["file_mounts"]["~/raylight"] == "."  # the project root `ray up` runs from
    assert_pinned_ray(config["docker"]["image"])
    assert config["docker"]["image"].endswith("-cpu")

    def installs(commands: list[str], index: str) -> None:
        text = "\n".join(commands)
        assert re.search(rf'pip install .*"?{re.escape(torch)}"? .*--index-url {index}', text)
        assert 'pip install --no-cache-dir -e "$HOME/raylight[pipelines]"' in text
        assert text.index(torch) < text.index("$HOME/raylight[pipelines]")  # torch first

    cpu_index = r"https://download\.pytorch\.org/whl/cpu\b"
    installs(config["setup_commands"], cpu_index)
    for name, spec in worker_types(config).items():
        if "worker_setup_commands" in spec:  # it replaces the global setup for that type
            cuda_index = r"https://download\.pytorch\.org/whl/cu\d+"
            installs(spec["worker_setup_commands"], cuda_index if has_gpu(spec) else cpu_index)
        else:
            assert not has_gpu(spec), f"{name} would get the CPU build of torch"
        if "docker" in spec:
            assert_pinned_ray(spec["docker"]["worker_image"])


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=lambda p: p.stem)
def test_launcher_keeps_the_dashboard_on_loopback_with_token_auth(path: Path) -> None:
    config = launcher(path)
    head = start_command(config["head_start_ray_commands"], "ray start --head")
    worker = start_command(config["worker_start_ray_commands"], "ray start --address")
    assert re.findall(r"--dashboard-host[= ](\S+)", head) == ["127.0.0.1"]
    assert "0.0.0.0" not in head
    for command in (head, worker):
        assert re.search(r"(^|\s)export RAY_AUTH_MODE=token;", command), command
    assert "--address=$RAY_HEAD_IP:6379" in worker
    # The token goes to every node from this machine's ~/.ray/auth_token, never in the file.
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert "RAY_AUTH_TOKEN=" not in path.read_text()


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=lambda p: p.stem)
def test_launcher_says_storage_must_be_shared(path: Path) -> None:
    comments = " ".join(
        line.lstrip("# ") for line in path.read_text().splitlines() if line.startswith("#")
    )
    assert "run.storage_path" in comments
    assert "shared" in comments
    assert "same path on every node" in comments


# ---- Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) with continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def dockerfile_args() -> dict[str, str]:
    """The global ARG defaults (before the first FROM), which every stage can take."""
    defaults: dict[str, str] = {}
    for keyword, arguments in dockerfile_instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in arguments:
            name, _, value = arguments.partition("=")
            defaults[name] = value
    return defaults


def substitute(text: str) -> str:
    args = dockerfile_args()
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), text)


def dockerfile_stages() -> list[tuple[str, list[tuple[str, str]]]]:
    """(stage name, instructions) in order; the FROM line is the first instruction."""
    stages: list[tuple[str, list[tuple[str, str]]]] = []
    for keyword, arguments in dockerfile_instructions():
        if keyword == "FROM":
            words = arguments.split()
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else "final"
            stages.append((name, []))
        if stages:
            stages[-1][1].append((keyword, arguments))
    return stages


def stage(name: str) -> list[tuple[str, str]]:
    matches = [instructions for found, instructions in dockerfile_stages() if found == name]
    assert len(matches) == 1, f"expected one stage {name!r} in {DOCKERFILE}"
    return matches[0]


def documented_tags() -> dict[str, str]:
    """The image tag each variant's documented `docker build` line produces."""
    tags = {}
    for line in DOCKERFILE.read_text().splitlines():
        match = re.search(r"docker build -f deploy/Dockerfile (.*)-t (raylight:\S+) \.$", line)
        if match:
            variant = re.search(r"--build-arg VARIANT=(\w+)", match[1])
            tags[variant[1] if variant else dockerfile_args()["VARIANT"]] = match[2]
    return tags


def test_dockerfile_documents_one_tag_per_variant() -> None:
    version = project_version()
    assert documented_tags() == {
        "cpu": f"raylight:{version}-cpu",
        "cuda": f"raylight:{version}-cuda",
    }
    assert dockerfile_args()["VARIANT"] == "cpu"


def test_dockerfile_bases_are_the_pinned_ray_images() -> None:
    final_from = stage("final")[0][1]
    assert substitute(final_from) == "base-cpu"  # the default variant
    for variant in documented_tags():
        assert final_from.replace("${VARIANT}", variant) in {"base-cpu", "base-cuda"}
        base = stage(f"base-{variant}")[0][1].split()[0]
        assert_pinned_ray(base)
        assert base.endswith("-cpu") if variant == "cpu" else re.search(r"-(gpu|cu\d+)$", base)


def test_dockerfile_pins_torch_like_the_makefile() -> None:
    torch = f"torch=={makefile_torch_version()}"
    indexes = {
        "cpu": r"https://download\.pytorch\.org/whl/cpu",
        "cuda": r"https://download\.pytorch\.org/whl/cu\d+",
    }
    for variant, index in indexes.items():
        runs = [substitute(a) for k, a in stage(f"base-{variant}") if k == "RUN"]
        assert any(
            "pip install" in run
            and re.search(rf'"?{re.escape(torch)}"?(\s|$)', run)
            and re.search(rf'--index-url "?{index}"?(\s|$)', run)
            for run in runs
        ), f"base-{variant} does not install {torch} from {index}"


def test_dockerfile_installs_the_copied_project_as_a_non_root_user() -> None:
    final = stage("final")
    assert ("WORKDIR", "/app") in final
    (copy_index,) = [
        i for i, (k, a) in enumerate(final) if k == "COPY" and a.split()[-2:] == [".", "/app"]
    ]
    # pip -e writes build metadata into /app as the image's user, so it must own the copy.
    assert "--chown=ray" in final[copy_index][1]
    installs = [
        i
        for i, (k, a) in enumerate(final)
        if k == "RUN" and re.search(r'pip install [^&]*"?/app\[pipelines\]"?', a)
    ]
    assert installs and min(installs) > copy_index, "the project is not installed after COPY"
    users = [a for k, a in final if k == "USER"]
    assert users and users[-1] == "ray", "the image should run as the Ray images' user, not root"


def test_dockerfile_fetches_nothing_by_url_and_holds_no_secrets() -> None:
    for keyword, arguments in dockerfile_instructions():
        assert not (keyword == "ADD" and re.search(r"https?://", arguments)), arguments
        if keyword in {"ARG", "ENV"}:
            name = re.split(r"[=\s]", arguments, maxsplit=1)[0]
            assert not re.search(r"TOKEN|SECRET|PASSWORD|KEY", name, re.I), name


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    # `docker build -f deploy/Dockerfile .` reads the .dockerignore at the context root.
    patterns = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "pipelines/*/.data", ".pytest_cache", "**/__pycache__"} <= patterns


# ---- KubeRay ---------------------------------------------------------------------------------


def manifest(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def cluster_specs() -> dict[str, dict[str, Any]]:
    return {
        "raycluster": manifest(RAYCLUSTER)["spec"],
        "rayjob": manifest(RAYJOB)["spec"]["rayClusterSpec"],
    }


def pod_templates(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    templates = {"head": spec["headGroupSpec"]["template"]["spec"]}
    for group in spec["workerGroupSpecs"]:
        templates[group["groupName"]] = group["template"]["spec"]
    return templates


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod["containers"], *pod.get("initContainers", [])]


def gpu_count(container: dict[str, Any]) -> int:
    return int(container["resources"].get("limits", {}).get("nvidia.com/gpu", 0))


@pytest.mark.parametrize(
    ("path", "kind"), [(RAYCLUSTER, "RayCluster"), (RAYJOB, "RayJob")], ids=["cluster", "job"]
)
def test_manifest_is_a_named_kuberay_resource(path: Path, kind: str) -> None:
    document = manifest(path)
    assert document["apiVersion"] == "ray.io/v1"
    assert document["kind"] == kind
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", document["metadata"]["name"])


@pytest.mark.parametrize("name", ["raycluster", "rayjob"])
def test_cluster_spec_has_what_kuberay_requires(name: str) -> None:
    spec = cluster_specs()[name]
    assert str(spec["rayVersion"]).startswith("2.60")
    assert ray_requirement().specifier.contains(Version(str(spec["rayVersion"])))
    assert spec["enableInTreeAutoscaling"] is True
    assert isinstance(spec["autoscalerOptions"], dict) and spec["autoscalerOptions"]
    assert spec["authOptions"]["mode"] == "token"  # Ray 2.60 token auth, generated by KubeRay
    assert isinstance(spec["headGroupSpec"]["rayStartParams"], dict)
    for pod in pod_templates(spec).values():
        for container in containers(pod):
            assert container["name"] and container["image"], container
            resources = container["resources"]
            assert resources.get("limits") or resources.get("requests"), container["name"]
    groups = spec["workerGroupSpecs"]
    assert len({group["groupName"] for group in groups}) == len(groups)
    for group in groups:
        for field in ("groupName", "replicas", "minReplicas", "maxReplicas", "template"):
            assert field in group, f"{group.get('groupName')}: no {field}"
        assert isinstance(group["rayStartParams"], dict)
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], group
    with_gpus = [g for g in groups if any(map(gpu_count, g["template"]["spec"]["containers"]))]
    assert with_gpus, "no worker group requests nvidia.com/gpu"
    assert all(g["minReplicas"] == 0 for g in with_gpus), "GPU groups should scale from zero"
    assert len(with_gpus) < len(groups), "no CPU worker group"


@pytest.mark.parametrize("name", ["raycluster", "rayjob"])
def test_cluster_images_are_the_dockerfile_tags(name: str) -> None:
    tags = documented_tags()
    for group, pod in pod_templates(cluster_specs()[name]).items():
        for container in pod["containers"]:
            expected = tags["cuda"] if gpu_count(container) else tags["cpu"]
            assert container["image"] == expected, f"{name}/{group}"
            assert container.get("workingDir") == "/app", f"{name}/{group}"  # the WORKDIR


@pytest.mark.parametrize("name", ["raycluster", "rayjob"])
def test_every_pod_mounts_the_shared_run_storage(name: str) -> None:
    claim = manifest(STORAGE)
    assert claim["kind"] == "PersistentVolumeClaim"
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    for group, pod in pod_templates(cluster_specs()[name]).items():
        volumes = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in pod["volumes"]
            if "persistentVolumeClaim" in v
        }
        for container in pod["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert volumes.get(mounts.get(RUNS_MOUNT)) == claim["metadata"]["name"], group


def test_rayjob_trains_a_spec_that_exists_onto_the_shared_storage() -> None:
    spec = manifest(RAYJOB)["spec"]
    words = shlex.split(spec["entrypoint"])
    assert words[:2] == ["raylight", "train"]
    spec_file = ROOT / words[2]  # relative to /app, the image's copy of this project
    assert spec_file.is_file(), f"{words[2]} does not exist in the project"
    overrides = dict(w.split("=", 1) for w in words[3:] if "=" in w)
    assert overrides.get("run.storage_path") == RUNS_MOUNT
    assert spec["submissionMode"] == "K8sJobMode"
    assert spec["shutdownAfterJobFinishes"] is True
    assert isinstance(spec["ttlSecondsAfterFinished"], int) and spec["ttlSecondsAfterFinished"] > 0


def test_rayjob_cluster_has_the_raycluster_shape() -> None:
    def shape(spec: dict[str, Any]) -> dict[str, list[str]]:
        return {
            group: [c["image"] for c in pod["containers"]]
            for group, pod in pod_templates(spec).items()
        }

    specs = cluster_specs()
    assert shape(specs["rayjob"]) == shape(specs["raycluster"])
    assert specs["rayjob"]["rayVersion"] == specs["raycluster"]["rayVersion"]
