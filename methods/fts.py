"""FTS — Fisher-Taylor Sensitivity (Navarrete et al., 2025, arXiv 2502.11450).

    score = | θ ⊙ ḡ + ½ θ² ⊙ F̂ |

the second-order Taylor estimate of the loss change when a weight is removed, with the empirical
Fisher diagonal F̂ (mean of squared per-sample gradients) standing in for the Hessian diagonal.
`mask_batch` B > 1 reproduces the released code's F̂ = B · mean over B-batches of (ḡ_b)².
"""

from __future__ import annotations

from torch import Tensor

from pai_bench.method import Method, ScoringContext, register_method, require


@register_method("fts")
class FTS(Method):
    mask_batch: int = 1

    def validate(self) -> None:
        require(self.mask_batch >= 1, "mask_batch", "a positive integer", self.mask_batch)

    def score(self, ctx: ScoringContext) -> dict[str, Tensor]:
        stats = ctx.fisher(mask_batch=self.mask_batch)
        return {
            n: (p * stats.mean_grad[n] + 0.5 * p.square() * stats.fisher[n]).abs()
            for n, p in ctx.params.items()
        }
