"""The app without Ray: the token lookup, and the spec's settings on Serve's deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylight.errors import TargetError
from raylight.serving.app import build_application, read_token
from raylight.serving.targets import Lineage
from raylight.spec.schema import AutoscalingSpec, ServeSpec
from tests.unit.conftest import write_checkpoint


def test_public_host_without_a_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAYLIGHT_SERVE_TOKEN", raising=False)
    with pytest.raises(TargetError, match="RAYLIGHT_SERVE_TOKEN"):
        read_token(ServeSpec(host="0.0.0.0"))
    assert read_token(ServeSpec(host="0.0.0.0", allow_public=True)) is None
    assert read_token(ServeSpec()) is None  # 127.0.0.1: fine without one
    monkeypatch.setenv("MY_TOKEN", "abc")
    assert read_token(ServeSpec(host="0.0.0.0", auth_token_env="MY_TOKEN")) == "abc"


def test_replica_batch_and_autoscaling_settings_reach_serves_deployment(tmp_path: Path) -> None:
    """What the spec says is what Serve's own objects hold (built without starting Ray)."""
    write_checkpoint(tmp_path)
    spec = ServeSpec(
        cpus_per_replica=0.5,
        max_batch_size=7,
        batch_wait_timeout_s=0.02,
        autoscaling=AutoscalingSpec(min_replicas=0, max_replicas=3, upscale_delay_s=1.5),
    )
    deployment = build_application(tmp_path, spec, Lineage())._bound_deployment
    assert deployment.ray_actor_options["num_cpus"] == 0.5
    scaling = deployment._deployment_config.autoscaling_config
    assert (scaling.min_replicas, scaling.max_replicas) == (0, 3)  # scales to zero when idle
    assert scaling.initial_replicas == 1 and scaling.upscale_delay_s == 1.5
    batch = deployment.func_or_class.predict_batch  # Serve's @serve.batch wrapper
    assert batch._get_max_batch_size() == 7
    assert batch._get_batch_wait_timeout_s() == 0.02
