"""CIFAR ResNets (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

- ``resnet18``: the CIFAR variant used by the FTS paper (arXiv 2502.11450) and most pruning work
  (the kuangliu/pytorch-cifar layout): a 3×3 stem convolution with 64 channels and no max-pool,
  BasicBlocks [2, 2, 2, 2] with widths 64–512, 1×1 convolution + BN shortcuts where the shape
  changes, global average pooling, Linear(512, C). 11,173,962 parameters for 10 classes.
- ``resnet20``: He et al.'s CIFAR ResNet-20 (Sec. 4.2): a 3×3 stem with 16 channels, 3 stages of
  3 BasicBlocks with widths 16/32/64. The paper's option A pads identity shortcuts with zeros; we
  use option B, 1×1 convolution + BN projections where the shape changes (as OpenLTH does for
  Frankle et al. 2021), so every layer is a plain Conv/BN that pruning methods see. 272,474
  parameters for 10 classes (option A: 269,722).

Convolutions have no bias (BN follows each). PyTorch's default initialization is kept.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pai_bench.models import register_model

__all__ = ["BasicBlock", "CifarResNet", "resnet18", "resnet20"]


class BasicBlock(nn.Module):
    """Two 3×3 conv + BN layers and a shortcut (identity, or 1×1 conv + BN if the shape changes)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """A ResNet for small images: 3×3 stem, no max-pool, stages of BasicBlocks, global pooling.

    Args:
        blocks: number of BasicBlocks per stage.
        widths: channels per stage; the first stage keeps the resolution, later ones halve it.
        num_classes: outputs of the final Linear layer.
        in_channels: channels of the input images.
    """

    def __init__(
        self,
        blocks: tuple[int, ...],
        widths: tuple[int, ...],
        *,
        num_classes: int,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.num_stages = len(blocks)
        in_planes = widths[0]
        for i, (n, width) in enumerate(zip(blocks, widths, strict=True)):
            strides = [1 if i == 0 else 2] + [1] * (n - 1)
            layers = []
            for stride in strides:
                layers.append(BasicBlock(in_planes, width, stride))
                in_planes = width
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))  # torchvision's names
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        for i in range(self.num_stages):
            out = getattr(self, f"layer{i + 1}")(out)
        out = self.pool(out)
        return self.fc(torch.flatten(out, 1))

    def get_classifier(self) -> nn.Module:
        return self.fc


@register_model("resnet18")
def resnet18(*, num_classes: int, input_shape: tuple[int, int, int]) -> CifarResNet:
    """CIFAR ResNet18 as in the FTS paper: 11,173,962 parameters for 10 classes, 3 channels."""
    return CifarResNet(
        (2, 2, 2, 2), (64, 128, 256, 512), num_classes=num_classes, in_channels=input_shape[0]
    )


@register_model("resnet20")
def resnet20(*, num_classes: int, input_shape: tuple[int, int, int]) -> CifarResNet:
    """He et al. 2016 CIFAR ResNet-20 with 1×1 conv + BN projection shortcuts (option B)."""
    return CifarResNet((3, 3, 3), (16, 32, 64), num_classes=num_classes, in_channels=input_shape[0])
