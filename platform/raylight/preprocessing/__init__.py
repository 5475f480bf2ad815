"""The data layer: read spec.data with Ray Data, fit preprocessing on the training split."""

from raylight.preprocessing.transforms import FittedPreprocessing

__all__ = ["FittedPreprocessing"]
