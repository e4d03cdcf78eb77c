"""Model registry and factory: our CIFAR-style nets by name, any timm model as ``timm:<name>``.

Builders take keyword-only ``num_classes`` and ``input_shape`` (C, H, W) and return an `nn.Module`
with PyTorch's default initialization: pruning at initialization scores *these* weights, so a
builder must not re-initialize them in a way the protocol does not state.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from torch import nn

from pai_bench.errors import ConfigError, PluginError, UnknownNameError
from pai_bench.registry import Registry

ModelBuilder = Callable[..., nn.Module]

MODELS: Registry[ModelBuilder] = Registry(
    "model", group="pai_bench.models", builtin="pai_bench.models.zoo"
)
register_model = MODELS.register

TIMM_PREFIX = "timm:"

__all__ = ["MODELS", "TIMM_PREFIX", "build_model", "classifier_of", "register_model"]


def build_model(name: str, *, num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    """Build the model called `name` for `num_classes` classes and inputs of shape (C, H, W).

    ``timm:<name>`` builds ``timm.create_model(<name>, pretrained=False, ...)`` with ``in_chans=C``:
    weights are never downloaded, since pruning at initialization starts from random weights.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ConfigError(f"input_shape must be three positive integers (C, H, W), got {shape!r}")
    if name.startswith(TIMM_PREFIX):
        return _build_timm(name[len(TIMM_PREFIX) :], num_classes=num_classes, in_chans=shape[0])
    return MODELS.get(name)(num_classes=num_classes, input_shape=shape)


def _build_timm(name: str, *, num_classes: int, in_chans: int) -> nn.Module:
    import timm  # imported here: it takes seconds and only timm: names need it

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
        if close:
            hint = f"did you mean {' or '.join(repr(TIMM_PREFIX + c) for c in close)}?"
        else:
            hint = "timm.list_models() lists the names"
        raise UnknownNameError(f"unknown timm model {name!r}: {hint}")
    return timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_chans)


def classifier_of(model: nn.Module) -> nn.Module:
    """The output layer of `model`: ``model.get_classifier()`` (timm's and ours) when it returns a
    module, else the last `nn.Linear` in ``model.modules()`` order.

    The protocol never prunes the classifier, so methods need to find it in any model.
    """
    getter = getattr(model, "get_classifier", None)
    if callable(getter):
        head = getter()
        if isinstance(head, nn.Module):
            return head
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise PluginError(
            f"cannot find the classifier of {type(model).__name__}: it has no get_classifier() "
            "and no nn.Linear"
        )
    return linears[-1]
