"""The built-in model families; importing this module registers them (``MODELS``' builtin)."""

from __future__ import annotations

from pai_bench.models import resnet, small, vgg

__all__ = ["resnet", "small", "vgg"]
