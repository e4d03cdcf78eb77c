"""`ImageData`: one image-classification data set, split and held in memory as uint8 tensors."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pai_bench.errors import DataError

__all__ = ["ImageData"]


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensor fields with == is ambiguous
class ImageData:
    """Train/validation/test images and labels with what a loader needs to use them.

    Images are uint8 tensors N×C×H×W in 0..255 and labels int64 tensors N; `mean` and `std` are
    per-channel on the 0..1 scale, for ``(x / 255 - mean) / std``. `augment` says whether the
    standard CIFAR augmentation (random crop 32 with padding 4, horizontal flip) suits the training
    images. A synthetic set has ``synthetic=True``, "synthetic" in its name and its description, so
    that no result computed on it can pass for one on real data.
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool
    synthetic: bool
    description: str

    def __post_init__(self) -> None:
        shape = self.train_x.shape[1:]
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1:] != shape:
                raise DataError(
                    f"{self.name}: {split}_x must be uint8 N×{'×'.join(map(str, shape))}, "
                    f"got {x.dtype} {tuple(x.shape)}"
                )
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise DataError(
                    f"{self.name}: {split}_y must be int64 of length {x.shape[0]}, "
                    f"got {y.dtype} {tuple(y.shape)}"
                )
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise DataError(
                    f"{self.name}: {split}_y has labels outside 0..{self.num_classes - 1}"
                )
        if len(self.mean) != shape[0] or len(self.std) != shape[0] or min(self.std) <= 0:
            raise DataError(
                f"{self.name}: mean and std need {shape[0]} values (std > 0), "
                f"got {self.mean} and {self.std}"
            )
        if self.synthetic != ("synthetic" in self.name) or (
            self.synthetic and "synthetic" not in self.description
        ):
            raise DataError(
                f"{self.name}: a synthetic data set must say 'synthetic' in its name and "
                "description, and a real one must not be named synthetic"
            )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    def __repr__(self) -> str:
        return (
            f"ImageData({self.name!r}, train={len(self.train_y)}, val={len(self.val_y)}, "
            f"test={len(self.test_y)}, shape={self.input_shape}, classes={self.num_classes})"
        )
