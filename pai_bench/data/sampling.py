"""The scoring data: which training examples a method sees when it scores."""

from __future__ import annotations

import torch
from torch import Tensor

from pai_bench.data.base import ImageData
from pai_bench.data.loader import DeviceLoader


def scoring_batches(
    data: ImageData, *, samples: int, batch_size: int, seed: int, device: torch.device | str
) -> list[tuple[Tensor, Tensor]]:
    """`samples` training examples (all of them if fewer), chosen by a permutation seeded with
    `seed`, normalized, without augmentation, in batches of `batch_size` on `device`."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data.train_y), generator=g)[:samples]
    loader = DeviceLoader(data.train_x[order], data.train_y[order], batch_size=batch_size,
                          mean=data.mean, std=data.std, device=device)
    return list(loader)
