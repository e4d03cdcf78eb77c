"""Effective sparsity (Vysogorets & Kempe, "Connectivity Matters: Neural Network Pruning Through the
Lens of Effective Sparsity", JMLR 2023): a kept weight that lies on no path from the input to the
output cannot change the network's function, so it is effectively pruned.

A weight θ_ij is on such a path iff, in the "path-count" network — every prunable weight replaced by
its 0/1 mask, every other weight by 1, biases by 0, batch norm by the identity, max-pooling by
average pooling (any input of a window lies on a path), in float64, fed an input of ones —
both the activation into it and the sum of paths from it to the output are positive, i.e. iff
∂R/∂θ_ij > 0 for R = 1ᵀ f(1). Exact for networks built from Conv, Linear, BN, ReLU-type
activations, pooling and residual additions (every network the registry builds).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_MAX_POOLS = {nn.MaxPool1d: nn.AvgPool1d, nn.MaxPool2d: nn.AvgPool2d, nn.MaxPool3d: nn.AvgPool3d}
_ADAPTIVE_MAX = {nn.AdaptiveMaxPool1d: nn.AdaptiveAvgPool1d,
                 nn.AdaptiveMaxPool2d: nn.AdaptiveAvgPool2d,
                 nn.AdaptiveMaxPool3d: nn.AdaptiveAvgPool3d}


def _path_count_network(model: nn.Module, masks: dict[str, Tensor]) -> nn.Module:
    net = copy.deepcopy(model).double().eval()
    for name, module in list(net.named_modules()):
        parent_name, _, child = name.rpartition(".")
        parent = net.get_submodule(parent_name) if name else None
        replacement = None
        if type(module) in _MAX_POOLS:
            replacement = _MAX_POOLS[type(module)](module.kernel_size, module.stride,
                                                   module.padding, ceil_mode=module.ceil_mode)
        elif type(module) in _ADAPTIVE_MAX:
            replacement = _ADAPTIVE_MAX[type(module)](module.output_size)
        elif isinstance(module, _NORMS):
            replacement = nn.Identity()
        if replacement is not None and parent is not None:
            setattr(parent, child, replacement)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name in masks:
                p.copy_(masks[name].to(p))
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.fill_(1.0)
    return net


def effective_masks(model: nn.Module, masks: dict[str, Tensor], input_shape: tuple[int, ...]
                    ) -> dict[str, Tensor]:
    """The kept weights that lie on some input → output path (0/1, like `masks`)."""
    net = _path_count_network(model, masks)
    params = {n: net.get_parameter(n) for n in masks}
    for p in net.parameters():
        p.requires_grad_(False)
    for p in params.values():
        p.requires_grad_(True)
    device = next(net.parameters()).device
    flow = net(torch.ones((1, *input_shape), dtype=torch.float64, device=device)).sum()
    grads = torch.autograd.grad(flow, list(params.values()), allow_unused=True)
    out = {}
    for (name, mask), g in zip(masks.items(), grads):
        on_path = g > 0 if g is not None else torch.zeros_like(mask, dtype=torch.bool)
        out[name] = (mask.bool() & on_path.to(mask.device)).to(mask.dtype)
    return out
