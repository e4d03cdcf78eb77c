"""Sanity ablations of a mask (Frankle et al., "Pruning Neural Networks at Initialization: Why Are
We Missing the Mark?", ICLR 2021): if a method's mask survives them, what it chose was only the
per-layer densities.

- shuffle: each layer keeps its kept count, at positions drawn at random;
- reinit: the same mask over freshly drawn weights;
- invert: in each layer, keep as many weights as the method kept there, but the lowest-scored.

All three keep every layer's kept count exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pai_bench.masks import top_k_mask


def shuffle_within_layers(masks: dict[str, Tensor], seed: int) -> dict[str, Tensor]:
    """Every layer keeps exactly its kept count; positions uniformly at random (seeded, CPU)."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name, mask in masks.items():
        order = torch.randperm(mask.numel(), generator=generator)
        out[name] = mask.flatten().cpu()[order].view_as(mask).to(mask.device)
    return out


def invert_within_layers(masks: dict[str, Tensor], scores: dict[str, Tensor]
                         ) -> dict[str, Tensor]:
    """Every layer keeps its kept count k_l, taken from the k_l lowest scores of that layer."""
    return {n: top_k_mask(-scores[n].to(m.device).flatten(), int(m.sum())).view_as(m).to(m.dtype)
            for n, m in masks.items()}


@torch.no_grad()
def reinitialize(model: nn.Module, fresh: nn.Module, names: list[str],
                 optimizer: torch.optim.Optimizer | None = None) -> None:
    """Copy `fresh`'s values into the weights `names` of `model` and forget their optimizer state
    (momentum earned by the old weights)."""
    for name in names:
        p = model.get_parameter(name)
        p.copy_(fresh.get_parameter(name))
        if optimizer is not None:
            optimizer.state.pop(p, None)
