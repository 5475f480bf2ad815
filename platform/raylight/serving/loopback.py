"""Keep HAProxy's stats and metrics listeners on 127.0.0.1 (a Ray worker setup hook).

Ray 2.60's HAProxy ingress template binds its stats page (8404) and Prometheus metrics (9101)
to every interface, with no setting to change that; the request listener itself follows
`serve.host`. Raylight binds dashboards to 127.0.0.1 unless asked otherwise, so every worker
of an embedded Ray runs this hook, which rewrites those two binds in Serve's template before
the HAProxy manager renders it. It touches Ray internals: if the template changes shape, the
hook leaves it alone, and tests/integration/test_serving_http.py checks the listeners.
"""

LOOPBACK_BINDS = {
    "bind *:{{ config.stats_port }}": "bind 127.0.0.1:{{ config.stats_port }}",
    "bind :{{ config.metrics_port }}": "bind 127.0.0.1:{{ config.metrics_port }}",
}


def loopback_haproxy_admin() -> None:
    """Worker setup hook: patch Serve's HAProxy template (only where it is in this process)."""
    try:
        from ray.serve._private import haproxy, haproxy_templates
    except ImportError:  # Serve not installed: nothing to patch
        return
    template = haproxy_templates.HAPROXY_CONFIG_TEMPLATE
    for public, local in LOOPBACK_BINDS.items():
        template = template.replace(public, local)
    haproxy_templates.HAPROXY_CONFIG_TEMPLATE = template
    haproxy.HAPROXY_CONFIG_TEMPLATE = template
