"""Scoring a model with a method and masking it: the stable Python API.

`compute_scores` and `compute_masks` never change the caller's model (weights, buffers or mode):
each round scores a private copy, masked so far and put in the method's mode. Iterative methods
(`rounds` > 1, SynFlow) prune along the exponential schedule density_k = density^(k/rounds), and
weights pruned in one round stay pruned.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pai_bench.masks import (
    LayerDensity,
    Scope,
    check_sparsity,
    density_schedule,
    layer_densities,
    masks_from_scores,
    prunable_names,
)
from pai_bench.method import Batch, LossFn, Method, ScoringContext, make_method
from pai_bench.resources import Usage, measure


@dataclass
class PruneResult:
    """Masks with everything needed to report them."""

    method: str
    options: dict[str, Any]
    masks: dict[str, Tensor]
    scores: dict[str, Tensor]
    usage: Usage
    rounds: int

    @property
    def layers(self) -> list[LayerDensity]:
        return layer_densities(self.masks)


def _as_method(method: str | Method, options: dict[str, Any]) -> tuple[str, Method]:
    if isinstance(method, Method):
        if options:
            raise TypeError("pass options either in the Method instance or as keywords, not both")
        return type(method).__name__.lower(), method
    return method, make_method(method, **options)


def _scoring_context(
    model: nn.Module,
    names: list[str],
    masks: dict[str, Tensor] | None,
    batches: list[Batch],
    loss_fn: LossFn,
    method: Method,
    input_shape: tuple[int, ...],
) -> ScoringContext:
    private = copy.deepcopy(model)
    private.train(method.mode == "train")
    wanted = set(names)
    for name, p in private.named_parameters():
        p.requires_grad_(name in wanted)
    if masks is not None:
        with torch.no_grad():
            for name in names:
                private.get_parameter(name).mul_(masks[name])
    return ScoringContext(private, names, batches, loss_fn, input_shape)


def _prepare(
    model: nn.Module,
    batches: Iterable[Batch] | None,
    input_shape: tuple[int, ...] | None,
    prune_classifier: bool,
) -> tuple[list[Batch], tuple[int, ...], list[str]]:
    """The batches on the model's device, the input shape and the prunable names."""
    device = next(model.parameters()).device
    data = [(x.to(device), y.to(device)) for x, y in (batches or [])]
    if input_shape is None:
        if not data:
            raise ValueError("no batches: pass input_shape for a data-free method")
        input_shape = tuple(data[0][0].shape[1:])
    return data, input_shape, prunable_names(model, prune_classifier=prune_classifier)


def prune(
    method: str | Method,
    model: nn.Module,
    batches: Iterable[Batch] | None,
    sparsity: float,
    *,
    scope: Scope = "global",
    loss_fn: LossFn | None = None,
    prune_classifier: bool = False,
    input_shape: tuple[int, ...] | None = None,
    **options: Any,
) -> PruneResult:
    """Score and mask in as many rounds as the method asks for; see `compute_masks`."""
    check_sparsity(sparsity)
    name, m = _as_method(method, options)
    data, input_shape, names = _prepare(model, batches, input_shape, prune_classifier)
    loss = loss_fn or F.cross_entropy
    masks = None
    device = next(model.parameters()).device
    with measure(device) as usage:
        for step_sparsity in density_schedule(sparsity, m.rounds):
            ctx = _scoring_context(model, names, masks, data, loss, m, input_shape)
            scores = {n: s.detach() for n, s in m.score(ctx).items()}
            _check_scores(name, scores, ctx)
            masks = masks_from_scores(scores, step_sparsity, scope=scope, alive=masks)
    return PruneResult(name, m.options(), masks, scores, usage, m.rounds)


def _check_scores(name: str, scores: dict[str, Tensor], ctx: ScoringContext) -> None:
    if list(scores) != ctx.names:
        raise ValueError(f"method '{name}' scored {list(scores)}, expected {ctx.names}")
    for n, p in ctx.params.items():
        if scores[n].shape != p.shape:
            raise ValueError(f"method '{name}': score of '{n}' has shape {tuple(scores[n].shape)}, "
                             f"parameter has {tuple(p.shape)}")


def compute_scores(
    method: str | Method,
    model: nn.Module,
    batches: Iterable[Batch] | None,
    *,
    loss_fn: LossFn | None = None,
    prune_classifier: bool = False,
    input_shape: tuple[int, ...] | None = None,
    **options: Any,
) -> dict[str, Tensor]:
    """One round of scores, keyed by parameter name, for every prunable parameter (higher = keep).

    `batches` is an iterable of (inputs, targets); data-free methods use only the input shape.
    `loss_fn` defaults to cross-entropy with mean reduction; `options` go to the method.
    """
    name, m = _as_method(method, options)
    data, input_shape, names = _prepare(model, batches, input_shape, prune_classifier)
    ctx = _scoring_context(model, names, None, data, loss_fn or F.cross_entropy, m, input_shape)
    scores = {n: s.detach() for n, s in m.score(ctx).items()}
    _check_scores(name, scores, ctx)
    return scores


def compute_masks(
    method: str | Method,
    model: nn.Module,
    batches: Iterable[Batch] | None,
    sparsity: float,
    *,
    scope: Scope = "global",
    loss_fn: LossFn | None = None,
    prune_classifier: bool = False,
    input_shape: tuple[int, ...] | None = None,
    **options: Any,
) -> dict[str, Tensor]:
    """0/1 masks for every prunable parameter keeping exactly int((1 − sparsity)·N) weights
    (`scope="global"`) or that many in each layer (`scope="layer"`)."""
    return prune(
        method, model, batches, sparsity, scope=scope, loss_fn=loss_fn,
        prune_classifier=prune_classifier, input_shape=input_shape, **options,
    ).masks
