"""The serving layer: a checkpoint becomes a Ray Serve application on 127.0.0.1."""

from raylight.serving.deployment import ServingEndpoint, run_serving

__all__ = ["ServingEndpoint", "run_serving"]
