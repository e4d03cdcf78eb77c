"""Small networks for tests and the CPU quickstart (8×8 digits train in seconds).

Built only from Conv2d, Linear and BatchNorm2d (plus ReLU, pooling and Flatten), so every pruning
method handles them as it handles the large models.
"""

from __future__ import annotations

import math

from torch import nn

from pai_bench.models import register_model

__all__ = ["mlp", "small_cnn", "tiny_cnn"]


def _conv_bn(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


@register_model("mlp")
def mlp(*, num_classes: int, input_shape: tuple[int, int, int]) -> nn.Sequential:
    """Flatten → Linear(C·H·W, 64) → ReLU → Linear(64, 32) → ReLU → Linear(32, classes)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(input_shape), 64),
        nn.ReLU(inplace=True),
        nn.Linear(64, 32),
        nn.ReLU(inplace=True),
        nn.Linear(32, num_classes),
    )


@register_model("tiny_cnn")
def tiny_cnn(*, num_classes: int, input_shape: tuple[int, int, int]) -> nn.Sequential:
    """Two 3×3 conv + BN + ReLU layers (8 and 16 channels), global average pool, Linear(16, C)."""
    return nn.Sequential(
        *_conv_bn(input_shape[0], 8),
        *_conv_bn(8, 16),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


@register_model("small_cnn")
def small_cnn(*, num_classes: int, input_shape: tuple[int, int, int]) -> nn.Sequential:
    """Conv 16 → conv 32 → max-pool → conv 64 → global average pool → Linear(64, C).

    About 24k parameters; reaches about 97% on 8×8 digits in a few CPU epochs (the quickstart).
    """
    return nn.Sequential(
        *_conv_bn(input_shape[0], 16),
        *_conv_bn(16, 32),
        nn.MaxPool2d(2),
        *_conv_bn(32, 64),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, num_classes),
    )
