"""VGG with batch normalization for CIFAR (Simonyan & Zisserman, ICLR 2015; BN: Ioffe & Szegedy
2015), in the layout of the FTS paper (arXiv 2502.11450) and the kuangliu/pytorch-cifar code.

Each "conv" is a 3×3 convolution with bias + BN + ReLU; "M" is a 2×2 max-pool. After the five
pools a global average pool and a single Linear(512, C) follow; no dropout and no hidden
fully-connected layers. VGG19 has 20,040,522 parameters for 10 classes. The five pools need
inputs of at least 32×32. PyTorch's default initialization is kept.
"""

from __future__ import annotations

from torch import Tensor, nn

from pai_bench.errors import ConfigError
from pai_bench.models import register_model

__all__ = ["CONFIGS", "VGG", "vgg11", "vgg13", "vgg16", "vgg19"]

M = "M"
CONFIGS: dict[str, tuple[int | str, ...]] = {
    "vgg11": (64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M),
    "vgg13": (64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M),
    "vgg16": (64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M),
    "vgg19": (64, 64, M, 128, 128, M, *[256] * 4, M, *[512] * 4, M, *[512] * 4, M),
}
MIN_SIZE = 32


class VGG(nn.Module):
    """VGG-BN feature extractor from a config of widths and "M" pools, then pool + Linear."""

    def __init__(self, config: tuple[int | str, ...], *, num_classes: int, in_channels: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for item in config:
            if item == M:
                layers.append(nn.MaxPool2d(2, 2))
                continue
            width = int(item)
            layers += [
                nn.Conv2d(channels, width, 3, padding=1, bias=True),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = self.pool(self.features(x))
        return self.classifier(out.flatten(1))

    def get_classifier(self) -> nn.Module:
        return self.classifier


def _build(name: str, num_classes: int, input_shape: tuple[int, int, int]) -> VGG:
    channels, height, width = input_shape
    if min(height, width) < MIN_SIZE:
        raise ConfigError(
            f"{name} needs inputs of at least {MIN_SIZE}×{MIN_SIZE}, got {height}×{width}: "
            f"use a 32×32 data set (e.g. digits with size=32)"
        )
    return VGG(CONFIGS[name], num_classes=num_classes, in_channels=channels)


@register_model("vgg11")
def vgg11(*, num_classes: int, input_shape: tuple[int, int, int]) -> VGG:
    """VGG11 (config A) with BN."""
    return _build("vgg11", num_classes, input_shape)


@register_model("vgg13")
def vgg13(*, num_classes: int, input_shape: tuple[int, int, int]) -> VGG:
    """VGG13 (config B) with BN."""
    return _build("vgg13", num_classes, input_shape)


@register_model("vgg16")
def vgg16(*, num_classes: int, input_shape: tuple[int, int, int]) -> VGG:
    """VGG16 (config D) with BN; the SynFlow layer-collapse experiment uses it."""
    return _build("vgg16", num_classes, input_shape)


@register_model("vgg19")
def vgg19(*, num_classes: int, input_shape: tuple[int, int, int]) -> VGG:
    """VGG19 (config E) with BN as in the FTS paper: 20,040,522 parameters for 10 classes."""
    return _build("vgg19", num_classes, input_shape)
