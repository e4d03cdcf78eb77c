"""Random — uniform scores from a seeded generator, the baseline every method must beat.

    score ~ U(0, 1), i.i.d., drawn on the CPU so that a seed gives the same mask on every device
"""

from __future__ import annotations

import torch
from torch import Tensor

from pai_bench.method import Method, ScoringContext, register_method


@register_method("random")
class Random(Method):
    needs_data = False
    seed: int = 0

    def score(self, ctx: ScoringContext) -> dict[str, Tensor]:
        generator = torch.Generator().manual_seed(self.seed)
        return {
            n: torch.rand(p.shape, generator=generator, dtype=torch.float64).to(p.device)
            for n, p in ctx.params.items()
        }
