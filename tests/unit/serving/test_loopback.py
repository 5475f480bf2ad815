"""The loopback hook: HAProxy's admin ports bind to 127.0.0.1 once Serve imports its template."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


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
