"""The training layer: a Ray Train TorchTrainer worker group runs the managed PyTorch loop."""

from raylight.training.trainer import TrainingResult, run_training, unfinished_training

__all__ = ["TrainingResult", "run_training", "unfinished_training"]
