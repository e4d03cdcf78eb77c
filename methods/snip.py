"""SNIP — connection sensitivity (Lee et al., ICLR 2019).

    score = | θ ⊙ ḡ |

with ḡ the mean gradient over the whole scoring set (the FTS code's convention; Lee et al. used one
batch: give `samples` = one batch for that).
"""

from __future__ import annotations

from torch import Tensor

from pai_bench.method import Method, ScoringContext, register_method


@register_method("snip")
class SNIP(Method):
    def score(self, ctx: ScoringContext) -> dict[str, Tensor]:
        grads = ctx.mean_gradient()
        return {n: (p * grads[n]).abs() for n, p in ctx.params.items()}
