"""GraSP — gradient signal preservation (Wang et al., ICLR 2020).

    score = θ ⊙ (H ḡ),   logits divided by the temperature T (200 in the official code)

Wang et al. remove the weights with the largest −θ⊙Hg, i.e. keep the largest θ⊙Hg, so higher =
keep here as for every method. (The FTS repository keeps the largest −θ⊙Hg instead: that inverted
selection is not GraSP and is not offered under this name.)
"""

from __future__ import annotations

from torch import Tensor

from pai_bench.method import Method, ScoringContext, register_method, require


@register_method("grasp")
class GraSP(Method):
    temperature: float = 200.0

    def validate(self) -> None:
        require(self.temperature > 0, "temperature", "a positive number", self.temperature)

    def score(self, ctx: ScoringContext) -> dict[str, Tensor]:
        hg = ctx.hessian_gradient_product(temperature=self.temperature)
        return {n: p * hg[n] for n, p in ctx.params.items()}
