"""Keep HAProxy's stats and metrics listeners on 127.0.0.1 (a Ray worker setup hook).

Ray 2.60's HAProxy ingress template binds its stats page (8404) and Prometheus metrics (9101)
to every interface, with no setting to change that; the request listener itself follows
`serve.host`. Raylight binds dashboards to 127.0.0.1 unless asked otherwise, so every worker
of an embedded Ray runs this hook. It rewrites those two binds in Serve's template module when
(and only if) a worker imports it: importing Serve in every Train or Data worker up front would
cost each a second or more. It touches Ray internals: if the template changes shape, the
rewrite does nothing, and tests/integration/test_serving.py checks the listeners.
"""

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

TEMPLATE_MODULE = "ray.serve._private.haproxy_templates"
USER_MODULE = "ray.serve._private.haproxy"
LOOPBACK_BINDS = {
    "bind *:{{ config.stats_port }}": "bind 127.0.0.1:{{ config.stats_port }}",
    "bind :{{ config.metrics_port }}": "bind 127.0.0.1:{{ config.metrics_port }}",
}


def loopback_haproxy_admin() -> None:
    """Worker setup hook: patch the template now if loaded, else as soon as it is imported."""
    if TEMPLATE_MODULE in sys.modules:
        _patch(sys.modules[TEMPLATE_MODULE])
        if USER_MODULE in sys.modules:  # it holds its own copy (`from ... import TEMPLATE`)
            _patch(sys.modules[USER_MODULE])
    elif not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())


def _patch(module: ModuleType) -> None:
    template = getattr(module, "HAPROXY_CONFIG_TEMPLATE", None)
    if not isinstance(template, str):
        return
    for public, local in LOOPBACK_BINDS.items():
        template = template.replace(public, local)
    module.HAPROXY_CONFIG_TEMPLATE = template  # type: ignore[attr-defined]


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the real loader of the template module to patch after it."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != TEMPLATE_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        original = loader.exec_module

        def exec_then_patch(module: ModuleType) -> None:
            original(module)
            _patch(module)

        loader.exec_module = exec_then_patch  # type: ignore[method-assign]
        return spec
