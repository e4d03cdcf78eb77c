"""FP — Fisher pruning: Optimal Brain Damage (LeCun et al., 1990) with the empirical Fisher
diagonal for the Hessian (the FTS paper's "FP" baseline, arXiv 2502.11450).

    score = ½ θ² ⊙ F̂
"""

from __future__ import annotations

from torch import Tensor

from pai_bench.method import Method, ScoringContext, register_method, require


@register_method("fisher_pruning")
class FisherPruning(Method):
    mask_batch: int = 1

    def validate(self) -> None:
        require(self.mask_batch >= 1, "mask_batch", "a positive integer", self.mask_batch)

    def score(self, ctx: ScoringContext) -> dict[str, Tensor]:
        fisher = ctx.fisher(mask_batch=self.mask_batch).fisher
        return {n: 0.5 * p.square() * fisher[n] for n, p in ctx.params.items()}
