"""The serving layer: checkpoints become Ray Serve applications on 127.0.0.1.

Imported lazily: `raylight.serving.predictor` (the model on a device) needs torch, not Serve.
"""

from typing import Any

__all__ = ["ServingEndpoint", "run_serving"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from raylight.serving import deployment

        return getattr(deployment, name)
    raise AttributeError(name)
