"""FD — the empirical Fisher diagonal as a score (the FTS paper's "FD" baseline,
Navarrete et al., 2025, arXiv 2502.11450).

    score = F̂ = (1/N) Σ_n (∇ℓ_n)²
"""

from __future__ import annotations

from torch import Tensor

from pai_bench.method import Method, ScoringContext, register_method, require


@register_method("fisher_diag")
class FisherDiag(Method):
    mask_batch: int = 1

    def validate(self) -> None:
        require(self.mask_batch >= 1, "mask_batch", "a positive integer", self.mask_batch)

    def score(self, ctx: ScoringContext) -> dict[str, Tensor]:
        return dict(ctx.fisher(mask_batch=self.mask_batch).fisher)
