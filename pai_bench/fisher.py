"""The empirical Fisher diagonal for the price of one batched backward pass.

For a Linear or Conv2d weight, the gradient of sample n's loss is a sum over output positions t of
outer products of the layer's output-gradient δ and (unfolded) input a:

    ∇_W ℓ_n = Σ_t δ_{n,t} a_{n,t}ᵀ,        F̂ = (1/N) Σ_n (∇_W ℓ_n)²

Hooks capture a and δ during one forward and one backward (to the input only) over a whole batch
(the loss scaled to a sum over samples, so δ is per sample); the per-sample gradients are then
formed layer by layer with one batched product over chunks of samples (memory bounded by
`chunk_elements`, written into one reused block), never a loop over single samples, and both
Σ_n ∇ℓ_n (for ḡ) and Σ_n (∇ℓ_n)² are read off them. Without positions (a plain Linear) the sums
collapse to δᵀa and (δ²)ᵀ(a²). Exact only when samples do not interact, i.e. BN in
eval mode: `ScoringContext.fisher` uses it then, and the per-sample loop otherwise.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_warned: set[str] = set()


def supported(module: nn.Module) -> bool:
    """Linear, and Conv2d with zero padding (any stride, dilation, groups)."""
    if isinstance(module, nn.Linear):
        return True
    return isinstance(module, nn.Conv2d) and module.padding_mode == "zeros" and not isinstance(
        module.padding, str)


def split_supported(model: nn.Module, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Prunable weights the batched pass handles, and the rest (which need the per-sample path);
    warns once per unsupported module type."""
    fast, slow = [], []
    for name in names:
        module_name, _, attr = name.rpartition(".")
        module = model.get_submodule(module_name)
        if attr == "weight" and supported(module):
            fast.append(name)
        else:
            slow.append(name)
            kind = type(module).__name__
            if kind not in _warned:
                _warned.add(kind)
                warnings.warn(f"per-sample Fisher: {kind} ('{name}') has no batched rule; using "
                              "the exact per-sample path for it (slower)", stacklevel=3)
    return fast, slow


class _Scratch:
    """One reusable block of memory for per-sample gradients: fresh large allocations cost more
    on a CPU (page faults) than the products written into them."""

    def __init__(self) -> None:
        self.block: Tensor | None = None

    def take(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        numel = math.prod(shape)
        if (self.block is None or self.block.numel() < numel or self.block.dtype != like.dtype
                or self.block.device != like.device):
            self.block = torch.empty(numel, dtype=like.dtype, device=like.device)
        return self.block[:numel].view(shape)


def _per_sample_grads(module: nn.Module, a: Tensor, delta: Tensor, scratch: _Scratch) -> Tensor:
    """∇_W ℓ_n for every sample n of a chunk: shape (n, *W.shape)."""
    n = a.shape[0]
    weight = module.weight
    if isinstance(module, nn.Linear):
        a = a.reshape(n, -1, a.shape[-1])  # (n, T, in)
        delta = delta.reshape(n, -1, delta.shape[-1])  # (n, T, out)
        out = scratch.take((n, *weight.shape), weight)
        return torch.bmm(delta.transpose(1, 2), a, out=out)
    g = module.groups
    if delta[0, 0].numel() < GROUPED_MIN_POSITIONS:
        cols = F.unfold(a, module.kernel_size, dilation=module.dilation, padding=module.padding,
                        stride=module.stride)  # (n, C·k·k, T)
        t = cols.shape[-1]
        cols = cols.reshape(n * g, -1, t)  # (n·g, C/g·k·k, T)
        delta = delta.reshape(n * g, module.out_channels // g, t)  # (n·g, O/g, T)
        out = scratch.take((n * g, delta.shape[1], cols.shape[1]), weight)
        return torch.bmm(delta, cols.transpose(1, 2), out=out).view(n, *weight.shape)
    # a convolution's weight gradient with every sample its own group: no unfolded copy of a
    shape = (n * weight.shape[0], *weight.shape[1:])
    _, grads, _ = torch.ops.aten.convolution_backward(
        delta.reshape(1, -1, *delta.shape[2:]), a.reshape(1, -1, *a.shape[2:]),
        weight.new_empty(shape), None, module.stride, module.padding, module.dilation, False,
        [0, 0], n * g, [False, True, False])
    return grads.view(n, *weight.shape)


# Per-sample products from a grouped convolution beat unfold + batched matmul when the output has
# many positions; with few (deep layers) unfold wins (measured on ResNet18 shapes, 2-core CPU).
GROUPED_MIN_POSITIONS = 256


def _sums(module: nn.Module, calls: list[tuple[Tensor, Tensor]], chunk_elements: int,
          scratch: _Scratch) -> tuple[Tensor, Tensor]:
    """Σ_n ∇_W ℓ_n and Σ_n (∇_W ℓ_n)², summing over every call of the module (shared weights)
    before squaring."""
    weight = module.weight
    n = calls[0][0].shape[0]
    if len(calls) == 1 and isinstance(module, nn.Linear) and calls[0][0].dim() == 2:
        a, delta = calls[0]  # one position: Σ_n (δ_n a_nᵀ)² = (δ²)ᵀ(a²)
        return delta.T @ a, delta.square().T @ a.square()
    grad_sum, square_sum = torch.zeros_like(weight), torch.zeros_like(weight)
    step = max(1, chunk_elements // weight.numel())
    for start in range(0, n, step):
        chunk = [(a[start : start + step], d[start : start + step]) for a, d in calls]
        grads = _per_sample_grads(module, *chunk[0], scratch)
        for a, d in chunk[1:]:
            grads = grads + _per_sample_grads(module, a, d, _Scratch())
        # sums over samples as 1ᵀG: a matrix-vector product reads G faster than a reduction
        ones = grads.new_ones(len(grads))
        flat = grads.view(len(grads), -1)
        grad_sum += (ones @ flat).view_as(weight)
        square_sum += (ones @ flat.square_()).view_as(weight)
    return grad_sum, square_sum


def batched_fisher(
    model: nn.Module,
    names: Sequence[str],
    batches: Sequence[tuple[Tensor, Tensor]],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    *,
    chunk_elements: int = 2**26,
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Σ_n ∇ℓ_n and Σ_n (∇ℓ_n)² for the weights `names` (all handled by `supported` modules),
    one forward and backward per batch. `loss_fn` must reduce by the mean."""
    modules = {name: model.get_submodule(name.rpartition(".")[0]) for name in names}
    grad_sum = {n: torch.zeros_like(model.get_parameter(n)) for n in names}
    fisher_sum = {n: torch.zeros_like(model.get_parameter(n)) for n in names}
    calls: dict[str, list[list[Tensor]]] = defaultdict(list)
    scratch = _Scratch()

    def forward_hook(name: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            if output.requires_grad:
                record = [inputs[0].detach()]
                calls[name].append(record)
                output.register_hook(lambda grad: record.append(grad.detach()))

        return hook

    handles = [m.register_forward_hook(forward_hook(n)) for n, m in modules.items()]
    # Backpropagate to the input only: the weights' own (summed) gradients are not computed, since
    # Σ_n ∇ℓ_n comes from the per-sample gradients formed anyway.
    flags = {p: p.requires_grad for p in model.parameters()}
    try:
        for p in flags:
            p.requires_grad_(False)
        for x, y in batches:
            calls.clear()
            x = x.detach().requires_grad_(True)
            # mean loss × batch size = Σ_n ℓ_n, so each δ_n is sample n's own output-gradient
            loss = loss_fn(model(x), y) * len(y)
            torch.autograd.grad(loss, x)
            for n in names:
                # a call whose output did not reach the loss got no δ: it contributes nothing
                pairs = [(r[0], r[1]) for r in calls[n] if len(r) == 2]
                if pairs:
                    g, f = _sums(modules[n], pairs, chunk_elements, scratch)
                    grad_sum[n] += g
                    fisher_sum[n] += f
    finally:
        for h in handles:
            h.remove()
        for p, flag in flags.items():
            p.requires_grad_(flag)
    return grad_sum, fisher_sum
