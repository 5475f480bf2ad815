"""The `run` section: storage, checkpoints kept, fault tolerance, the runtime environment."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from raylight.spec.base import Section


class RunSpec(Section):
    storage_path: str = Field(
        default="~/raylight_runs",
        description="Where runs, checkpoints and sweep results are written. Relative paths "
        "are relative to the spec file; must be shared storage on a multi-node cluster.",
    )
    num_checkpoints_to_keep: int = Field(
        default=2, ge=1, description="Best checkpoints kept per run, ranked by train.metric."
    )
    max_failures: int = Field(
        default=0,
        ge=-1,
        description="Worker-group failures tolerated; each restarts from the latest "
        "checkpoint. -1 retries forever.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables for every Ray worker of the run (and a submitted "
        "job's driver): the job's runtime environment, or the embedded Ray's on this machine.",
    )
    requirements: str | None = Field(
        default=None,
        description="A pip requirements file (relative to the spec) that a submitted job "
        "installs on the cluster in its runtime environment, on top of the cluster's Python. "
        "Not installed for local runs: this machine's environment is used as is.",
    )

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        bad = [name for name in env if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)]
        if bad:
            raise ValueError(f"not environment variable names: {bad}")
        return env
