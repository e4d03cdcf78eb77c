"""The empirical Fisher diagonal for the price of one batched backward pass.

For a Linear or Conv2d weight, the gradient of sample n's loss is a sum over output positions t of
outer products of the layer's output-gradient δ and (unfolded) input a:

    ∇_W ℓ_n = Σ_t δ_{n,t} a_{n,t}ᵀ,        F̂ = (1/N) Σ_n (∇_W ℓ_n)²

Hooks capture a and δ during one ordinary forward and backward over a whole batch (the loss scaled
to a sum over samples, so δ is per sample); the per-sample gradients are then formed layer by layer
with one batched matrix product over chunks of samples (memory bounded by `chunk_elements`), never a
loop over single samples. Without positions (a plain Linear) the sum collapses to (δ²)ᵀ(a²). The
mean gradient ḡ comes from the same backward. Exact only when samples do not interact, i.e. BN in
eval mode: `ScoringContext.fisher` uses it then, and the per-sample loop otherwise.
"""

from __future__ import annotations

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


def _per_sample_grads(module: nn.Module, a: Tensor, delta: Tensor) -> Tensor:
    """∇_W ℓ_n for every sample n of a chunk: shape (n, *W.shape)."""
    n = a.shape[0]
    if isinstance(module, nn.Linear):
        a = a.reshape(n, -1, a.shape[-1])  # (n, T, in)
        delta = delta.reshape(n, -1, delta.shape[-1])  # (n, T, out)
        return torch.bmm(delta.transpose(1, 2), a)
    g = module.groups
    weight = module.weight
    if delta[0, 0].numel() < GROUPED_MIN_POSITIONS:
        cols = F.unfold(a, module.kernel_size, dilation=module.dilation, padding=module.padding,
                        stride=module.stride)  # (n, C·k·k, T)
        cols = cols.view(n, g, -1, cols.shape[-1])
        delta = delta.reshape(n, g, module.out_channels // g, -1)  # (n, g, O/g, T)
        grads = torch.matmul(delta, cols.transpose(2, 3))  # (n, g, O/g, C/g·k·k)
        return grads.reshape(n, *weight.shape)
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


def _squared_sum(module: nn.Module, calls: list[tuple[Tensor, Tensor]], chunk_elements: int
                 ) -> Tensor:
    """Σ_n (∇_W ℓ_n)², summing over every call of the module (shared weights) before squaring."""
    weight = module.weight
    n = calls[0][0].shape[0]
    if len(calls) == 1 and isinstance(module, nn.Linear) and calls[0][0].dim() == 2:
        a, delta = calls[0]  # one position: Σ_n (δ_n a_nᵀ)² = (δ²)ᵀ(a²)
        return delta.square().T @ a.square()
    total = torch.zeros_like(weight)
    step = max(1, chunk_elements // weight.numel())
    for start in range(0, n, step):
        grads = _per_sample_grads(module, *(t[start : start + step] for t in calls[0]))
        for a, d in calls[1:]:
            grads += _per_sample_grads(module, a[start : start + step], d[start : start + step])
        total += torch.linalg.vector_norm(grads, dim=0).square_()
    return total


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
    params = [model.get_parameter(n) for n in names]
    grad_sum = {n: torch.zeros_like(p) for n, p in zip(names, params)}
    fisher_sum = {n: torch.zeros_like(p) for n, p in zip(names, params)}
    calls: dict[str, list[list[Tensor]]] = defaultdict(list)

    def forward_hook(name: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            if output.requires_grad:
                record = [inputs[0].detach()]
                calls[name].append(record)
                output.register_hook(lambda grad: record.append(grad.detach()))

        return hook

    handles = [m.register_forward_hook(forward_hook(n)) for n, m in modules.items()]
    try:
        for x, y in batches:
            calls.clear()
            # mean loss × batch size = Σ_n ℓ_n, so each δ_n is sample n's own output-gradient
            loss = loss_fn(model(x), y) * len(y)
            for n, g in zip(names, torch.autograd.grad(loss, params)):
                grad_sum[n] += g
            for n in names:
                # a call whose output did not reach the loss got no δ: it contributes nothing
                pairs = [(r[0], r[1]) for r in calls[n] if len(r) == 2]
                if pairs:
                    fisher_sum[n] += _squared_sum(modules[n], pairs, chunk_elements)
    finally:
        for h in handles:
            h.remove()
    return grad_sum, fisher_sum
