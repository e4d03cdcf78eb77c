"""FBSS — Fisher-based saliency with the gradient term (the FTS paper's "FBSS" baseline,
arXiv 2502.11450): the loss change of the optimal quadratic step that sets θ to zero,

    score = (F̂/2) ⊙ (θ − ḡ/F̂)²,   here with F̂ → F̂ + λ,

damped by λ > 0: where F̂ = 0 every per-sample gradient is 0, so ḡ = 0 and the score is λθ²/2
instead of the released code's 0/0 = NaN.
"""

from __future__ import annotations

from torch import Tensor

from pai_bench.method import Method, ScoringContext, register_method, require


@register_method("fbss")
class FBSS(Method):
    mask_batch: int = 1
    damping: float = 1e-8

    def validate(self) -> None:
        require(self.mask_batch >= 1, "mask_batch", "a positive integer", self.mask_batch)
        require(self.damping > 0, "damping", "a positive number", self.damping)

    def score(self, ctx: ScoringContext) -> dict[str, Tensor]:
        stats = ctx.fisher(mask_batch=self.mask_batch)
        scores = {}
        for n, p in ctx.params.items():
            f = stats.fisher[n] + self.damping
            scores[n] = 0.5 * f * (p - stats.mean_grad[n] / f).square()
        return scores
