"""The spec layer: schema, loading, overrides. Imports pydantic and yaml only (no Ray, no torch)."""

from raylight.spec.loader import LoadedSpec, load_spec, spec_hash
from raylight.spec.schema import Spec

__all__ = ["LoadedSpec", "Spec", "load_spec", "spec_hash"]
