"""SynFlow — iterative synaptic flow pruning (Tanaka et al., NeurIPS 2020).

    score = | θ ⊙ ∂R/∂θ |,   R = 1ᵀ f(1; |θ|)

data-free: every parameter and buffer is made non-negative, the input is all ones, BN runs in eval
mode, all in float64 (float32 underflows at extreme sparsity). Pruned over `rounds` rounds (100)
along density_k = density^(k/rounds); the harness keeps pruned weights pruned between rounds.

`bias_flow: false` zeroes the biases in that copy. The official code keeps them, but its models
initialize biases to zero; with PyTorch's default (non-zero) biases, |b| injects flow that does
not come from the input, breaks the conservation that protects small layers, and VGG16 collapses
near 10^3.75 instead of 10^6 (leaderboard/collapse/README.md).
"""

from __future__ import annotations

import torch
from torch import Tensor

from pai_bench.method import Method, ScoringContext, register_method, require


@register_method("synflow")
class SynFlow(Method):
    needs_data = False
    rounds: int = 100
    bias_flow: bool = True

    def validate(self) -> None:
        require(self.rounds >= 1, "rounds", "a positive integer", self.rounds)

    def score(self, ctx: ScoringContext) -> dict[str, Tensor]:
        model = ctx.model.double().eval()
        with torch.no_grad():
            for t in [*model.parameters(), *model.buffers()]:
                t.abs_()
            if not self.bias_flow:
                for name, p in model.named_parameters():
                    if name.endswith("bias") and name not in ctx.names:
                        p.zero_()
        ones = torch.ones((1, *ctx.input_shape), dtype=torch.float64, device=ctx.device)
        params = ctx.params
        flow = model(ones).sum()
        grads = torch.autograd.grad(flow, list(params.values()))
        return {n: (p * g).abs() for (n, p), g in zip(params.items(), grads)}
