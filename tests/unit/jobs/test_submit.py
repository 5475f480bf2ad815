"""What a submitted job carries: the spec's environment, its requirements, and its lineage."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import raylight
from raylight.cluster import RAY_ENV_DEFAULTS
from raylight.errors import JobError, SpecError
from raylight.jobs.submit import METADATA_PREFIX, job_metadata, job_runtime_env
from raylight.spec import load_spec
from tests.conftest import DIGITS_SPEC, ROOT


def test_the_specs_env_and_requirements_go_into_the_jobs_runtime_env(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# pinned\nsix==1.16.0  # tiny\n\npyyaml>=6\n")
    spec = tmp_path / "experiment.yaml"
    shutil.copy(DIGITS_SPEC, spec)
    loaded = load_spec(
        spec,
        [
            "run.env={HF_HOME: /mnt/cache, OMP_NUM_THREADS: '1'}",
            "run.requirements=requirements.txt",
        ],
    )
    env = job_runtime_env(loaded)
    spec_env = {"HF_HOME": "/mnt/cache", "OMP_NUM_THREADS": "1"}
    assert env["env_vars"] == {**RAY_ENV_DEFAULTS, **spec_env}
    assert env["pip"] == {"packages": ["six==1.16.0", "pyyaml>=6"]}
    assert env["working_dir"] == str(loaded.project_root)
    assert env["py_modules"] == [str(Path(raylight.__file__).parent)]
    plain = job_runtime_env(load_spec(DIGITS_SPEC))
    assert plain["env_vars"] == RAY_ENV_DEFAULTS and "pip" not in plain


def test_a_missing_requirements_file_is_refused_before_upload() -> None:
    loaded = load_spec(DIGITS_SPEC, ["run.requirements=no-such-requirements.txt"])
    with pytest.raises(JobError, match=r"run\.requirements: no file .*no-such-requirements\.txt"):
        job_runtime_env(loaded)


def test_env_names_must_be_environment_variable_names() -> None:
    with pytest.raises(SpecError, match=r"run.env.*not environment variable names: \['1BAD'\]"):
        load_spec(DIGITS_SPEC, ["run.env={1BAD: x}"])


def test_job_metadata_names_spec_verb_user_and_commit() -> None:
    metadata = job_metadata(load_spec(DIGITS_SPEC), "train")
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert metadata[f"{METADATA_PREFIX}spec"] == "digits"
    assert metadata[f"{METADATA_PREFIX}verb"] == "train"
    assert metadata[f"{METADATA_PREFIX}git_commit"].removesuffix("+dirty") == head
    assert metadata[f"{METADATA_PREFIX}user"]


def test_submit_validates_the_spec_before_contacting_the_cluster(tmp_path: Path) -> None:
    from raylight.jobs.submit import submit_job
    from tests.conftest import free_port

    spec = tmp_path / "broken.yaml"
    spec.write_text(DIGITS_SPEC.read_text().replace("epochs: 15", "epochs: 0"))
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens: reaching it would be a JobError
    with pytest.raises(SpecError, match=r"train\.epochs"):
        submit_job(spec, ["train"], address=nobody)
