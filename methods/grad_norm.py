"""GN — gradient magnitude (the FTS paper's "GN" baseline, arXiv 2502.11450).

    score = | ḡ |
"""

from __future__ import annotations

from torch import Tensor

from pai_bench.method import Method, ScoringContext, register_method


@register_method("grad_norm")
class GradNorm(Method):
    def score(self, ctx: ScoringContext) -> dict[str, Tensor]:
        return {n: g.abs() for n, g in ctx.mean_gradient().items()}
