"""Magnitude — keep the largest weights (Han et al., 2015; at initialization as in Frankle et al.,
ICLR 2021).

    score = | θ |
"""

from __future__ import annotations

from torch import Tensor

from pai_bench.method import Method, ScoringContext, register_method


@register_method("magnitude")
class Magnitude(Method):
    needs_data = False

    def score(self, ctx: ScoringContext) -> dict[str, Tensor]:
        return {n: p.detach().abs() for n, p in ctx.params.items()}
