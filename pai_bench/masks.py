"""Scores → masks: what is prunable, how many weights are kept, and which.

Prunable tensors are chosen by module type (the weights of Conv and Linear layers), never by
substrings of parameter names; the classifier stays dense unless asked. The kept count is exactly
k = int((1 − s)·N), per layer or over all prunable weights; ties are broken deterministically (the
earlier parameter, then the earlier element, wins).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import torch
from torch import Tensor, nn

from pai_bench.errors import ConfigError, PaiBenchError

Scope = Literal["global", "layer"]
PRUNABLE_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def classifier_module(model: nn.Module) -> nn.Module | None:
    """The output layer: timm's `get_classifier()` where offered, else the last Linear."""
    get = getattr(model, "get_classifier", None)
    if callable(get):
        head = get()
        if isinstance(head, nn.Module) and any(True for _ in head.parameters()):
            return head
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def prunable_names(model: nn.Module, *, prune_classifier: bool = False) -> list[str]:
    """Names of the prunable weights: Conv/Linear weights, in module order, classifier optional."""
    head = None if prune_classifier else classifier_module(model)
    excluded = {id(m) for m in head.modules()} if head is not None else set()
    return [
        f"{name}.weight" if name else "weight"
        for name, module in model.named_modules()
        if isinstance(module, PRUNABLE_TYPES) and id(module) not in excluded
    ]


def check_sparsity(sparsity: float) -> float:
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)):
        raise ConfigError(f"sparsity {sparsity!r} is not a number: give a value in [0, 1)")
    if not 0 <= sparsity < 1 or math.isnan(sparsity):
        raise ConfigError(
            f"sparsity {sparsity!r} is outside [0, 1): it is the pruned fraction, "
            "e.g. 0.99 keeps 1% of the prunable weights"
        )
    return float(sparsity)


def kept_count(total: int, sparsity: float) -> int:
    """k = int((1 − s)·N), with s read as the decimal it was written as (1 − 0.9 is 0.0999…98 in
    binary floating point, which would keep one weight too few of 1000)."""
    return math.floor((1 - Fraction(repr(float(sparsity)))) * total)


def top_k_mask(flat: Tensor, k: int) -> Tensor:
    """A 0/1 mask keeping the k largest entries; among equal values the lower index wins."""
    flat = flat.detach()
    if flat.dtype not in (torch.float32, torch.float64):
        flat = flat.float()
    n = flat.numel()
    keep = torch.zeros(n, dtype=torch.bool, device=flat.device)
    if k <= 0:
        return keep
    if k >= n:
        return ~keep
    threshold = torch.kthvalue(flat, n - k + 1).values
    keep = flat > threshold
    missing = k - int(keep.sum())
    if missing > 0:
        ties = torch.nonzero(flat == threshold).squeeze(1)[:missing]
        keep[ties] = True
    return keep


def masks_from_scores(
    scores: dict[str, Tensor],
    sparsity: float,
    *,
    scope: Scope = "global",
    alive: dict[str, Tensor] | None = None,
) -> dict[str, Tensor]:
    """Keep the top (1 − sparsity) fraction of weights by score, globally or in every layer.

    `alive` (masks of an earlier round) keeps pruned weights pruned: their scores count as −∞.
    """
    check_sparsity(sparsity)
    for name, s in scores.items():
        if torch.isnan(s).any():
            raise PaiBenchError(f"scores of '{name}' contain NaN: the method is numerically broken")
    if alive is not None:
        scores = {
            n: torch.where(alive[n].bool(), s, torch.full_like(s, -math.inf))
            for n, s in scores.items()
        }
    if scope == "layer":
        return {
            n: top_k_mask(s.flatten(), kept_count(s.numel(), sparsity)).view_as(s).to(s.dtype)
            for n, s in scores.items()
        }
    if scope != "global":
        raise ConfigError(f"scope {scope!r} is unknown: use 'global' or 'layer'")
    dtype = torch.promote_types(torch.float32, next(iter(scores.values())).dtype)
    flat = torch.cat([s.detach().flatten().to(dtype) for s in scores.values()])
    keep = top_k_mask(flat, kept_count(flat.numel(), sparsity))
    masks, offset = {}, 0
    for name, s in scores.items():
        masks[name] = keep[offset : offset + s.numel()].view_as(s).to(s.dtype)
        offset += s.numel()
    return masks


@dataclass(frozen=True)
class LayerDensity:
    name: str
    kept: int
    total: int

    @property
    def density(self) -> float:
        return self.kept / self.total

    @property
    def collapsed(self) -> bool:
        """A layer pruned to nothing cuts every path through the network."""
        return self.kept == 0


def layer_densities(masks: dict[str, Tensor]) -> list[LayerDensity]:
    return [LayerDensity(n, int(m.count_nonzero()), m.numel()) for n, m in masks.items()]


def achieved_sparsity(masks: dict[str, Tensor]) -> float:
    total = sum(m.numel() for m in masks.values())
    return 1 - sum(int(m.count_nonzero()) for m in masks.values()) / total


def collapsed_layers(masks: dict[str, Tensor]) -> list[str]:
    return [d.name for d in layer_densities(masks) if d.collapsed]


def density_schedule(sparsity: float, rounds: int) -> list[float]:
    """The exponential schedule of iterative pruning: density_k = density^(k/rounds), as sparsities.
    The last entry is the target sparsity itself, so the final count is exact."""
    density = 1 - sparsity
    return [1 - density ** (k / rounds) for k in range(1, rounds)] + [sparsity]
