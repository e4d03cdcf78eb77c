"""Weight initialization schemes a protocol can name.

- ``default``: what the builder gives, PyTorch's per-module defaults (the FTS protocol's).
- ``kaiming_normal``: the Synaptic-Flow code's (Tanaka et al., NeurIPS 2020, `Models/*.py`):
  conv and linear weights ~ N(0, 2 / fan_in) (He et al., 2015), their biases 0, BN γ = 1, β = 0.
  SynFlow's critical-compression figure was measured on networks initialized this way, and the
  scheme matters for it: a non-zero bias feeds SynFlow's linearized network flow that does not
  come from the input (see leaderboard/collapse/README.md).
"""

from __future__ import annotations

from torch import nn

from pai_bench.errors import ConfigError

INITS = ("default", "kaiming_normal")


def initialize(model: nn.Module, scheme: str) -> nn.Module:
    """Re-initialize `model` in place with `scheme` (one of `INITS`), drawing from torch's RNG."""
    if scheme not in INITS:
        raise ConfigError(f"unknown initialization {scheme!r}: use one of {', '.join(INITS)}")
    if scheme == "default":
        return model
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return model
