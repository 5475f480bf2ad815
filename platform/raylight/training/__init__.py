"""The training layer: a Ray Train TorchTrainer worker group runs one of the loop kinds.

Imported lazily: a worker that imports one loop kind's module does not load the driver.
"""

from typing import Any

__all__ = ["TrainingResult", "run_training", "unfinished_training"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from raylight.training import trainer

        return getattr(trainer, name)
    raise AttributeError(name)
