"""A model with two named inputs, an image and table features (test_images.py's mixed source)."""

from __future__ import annotations

import torch
from torch import nn


class ImagePlusFeatures(nn.Module):
    def __init__(self, image_channels: int, image_size: int, num_features: int, num_outputs: int):
        super().__init__()
        self.image = nn.Sequential(nn.Flatten(), nn.Linear(image_channels * image_size**2, 16))
        self.head = nn.Linear(16 + num_features, num_outputs)

    def forward(self, image: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([torch.relu(self.image(image)), features], dim=1))


def build(image_channels: int, image_size: int, num_features: int, num_outputs: int) -> nn.Module:
    return ImagePlusFeatures(image_channels, image_size, num_features, num_outputs)
