"""A small CNN for the digit images: two conv blocks, then a linear head on the feature map."""

from __future__ import annotations

from torch import Tensor, nn


class DigitsCNN(nn.Module):
    def __init__(self, image_channels: int, image_size: int, num_outputs: int, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(image_channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, width * 2, 3, padding=1),
            nn.BatchNorm2d(width * 2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Linear(width * 2 * (image_size // 4) ** 2, num_outputs)

    def forward(self, image: Tensor) -> Tensor:
        """`image` (N, C, H, W), as Raylight passes it by name."""
        return self.head(self.body(image))


def build_cnn(image_channels: int, image_size: int, num_outputs: int, width: int = 16) -> nn.Module:
    """Raylight passes the image's channels and size and the class count; width from kwargs."""
    return DigitsCNN(image_channels, image_size, num_outputs, width)
