"""Holding a mask through training: pruned weights stay exactly zero.

Three places could revive a pruned weight: the gradient step itself, the optimizer's state
(momentum, Adam's moments: filled by earlier dense steps) and weight decay (coupled decay adds
wd·θ to the gradient). `SparseState` closes all three: at pruning time it zeroes the weights and the
pruned entries of every optimizer-state tensor; at every step it masks the gradients before the
optimizer reads them (so the state stays zero there) and multiplies the weights by the mask after
the step, as one fused foreach multiply each.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SparseState:
    """Masks bound to a model's parameters (and, once pruned, to its optimizer)."""

    def __init__(self, model: nn.Module, masks: dict[str, Tensor]) -> None:
        self.names = list(masks)
        self.params = [model.get_parameter(n) for n in self.names]
        self.masks = [masks[n].to(device=p.device, dtype=p.dtype) for n, p in zip(self.names,
                                                                                   self.params)]

    @torch.no_grad()
    def apply(self) -> None:
        """θ ← θ ⊙ m for every masked parameter."""
        torch._foreach_mul_(self.params, self.masks)

    @torch.no_grad()
    def mask_gradients(self) -> None:
        pairs = [(p.grad, m) for p, m in zip(self.params, self.masks) if p.grad is not None]
        if pairs:
            grads, masks = zip(*pairs)
            torch._foreach_mul_(list(grads), list(masks))

    @torch.no_grad()
    def clear_optimizer_state(self, optimizer: torch.optim.Optimizer) -> None:
        """Zero the pruned entries of every per-weight state tensor (momentum, moments)."""
        for p, m in zip(self.params, self.masks):
            for value in optimizer.state.get(p, {}).values():
                if isinstance(value, Tensor) and value.shape == p.shape:
                    value.mul_(m)

    def prune(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Make the mask true now: weights, gradients and optimizer state."""
        self.apply()
        self.mask_gradients()
        if optimizer is not None:
            self.clear_optimizer_state(optimizer)
