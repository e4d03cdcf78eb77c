"""One run end to end: seed → model and data → warm-up → score and mask → sparse training.

The protocol (PROTOCOL.md): train `warmup_epochs` dense (0 = prune at initialization), score the
current weights, keep the top (1 − sparsity), and continue with the same optimizer and schedule
to `epochs` in total, no rewind unless the spec asks. Test top-1 / top-5 every epoch; the
best-validation test accuracy is taken over the sparse epochs only (a dense warm-up checkpoint is
not a pruned network). With ``evaluate_test=False`` (tuning) the test split is never touched and
only validation numbers are reported.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from pai_bench.ablation import invert_within_layers, reinitialize, shuffle_within_layers
from pai_bench.data import DeviceLoader, ImageData
from pai_bench.data.sampling import scoring_batches
from pai_bench.effective import effective_masks
from pai_bench.masks import LayerDensity, achieved_sparsity, masks_from_scores
from pai_bench.method import make_seeded_method
from pai_bench.models import build_model
from pai_bench.resources import Usage
from pai_bench.score_cache import CachedScores, ScoreCache, score_key
from pai_bench.scoring import PruneResult, prune
from pai_bench.sparse import SparseState
from pai_bench.spec import RunSpec
from pai_bench.train import evaluate, make_optimizer, make_scheduler, train_epoch

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class RunResult:
    """What a finished run reports: final metrics, per-epoch history, per-layer densities."""

    metrics: dict[str, float]
    history: list[dict[str, float]]
    layers: list[LayerDensity] = field(default_factory=list)
    method_options: dict[str, Any] = field(default_factory=dict)
    masks: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    scores_reused_from: str | None = None  # run key whose scores this run masked
    effective_kept: dict[str, int] = field(default_factory=dict)  # kept weights on a path
    model: nn.Module | None = field(default=None, repr=False)  # the trained network


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def prune_model(spec: RunSpec, model: nn.Module, data: ImageData, device: torch.device,
                cache: ScoreCache | None = None) -> tuple[PruneResult, str | None]:
    """Score and mask; a one-shot method's scores come from `cache` when an earlier run of the
    suite computed them. Returns the result and the run key the scores were reused from."""
    method = make_seeded_method(spec.method, spec.seed, **dict(spec.method_options))
    key = score_key(spec, method.options(), device) if cache is not None and (
        method.rounds == 1) else None
    cached = cache.get(key) if cache is not None else None
    if cached is not None:
        masks = masks_from_scores({n: s.to(device) for n, s in cached.scores.items()},
                                  spec.sparsity, scope=spec.pruning.scope)
        usage = Usage(cached.seconds, cached.peak_memory_mb, "reused")
        result = PruneResult(spec.method, method.options(), masks, cached.scores, usage, 1)
    else:
        batches = (scoring_batches(data, samples=spec.scoring.samples,
                                   batch_size=spec.scoring.batch_size, seed=spec.seed,
                                   device=device) if method.needs_data else [])
        result = prune(method, model, batches, spec.sparsity, scope=spec.pruning.scope,
                       prune_classifier=spec.pruning.prune_classifier,
                       input_shape=data.input_shape)
        if cache is not None:
            cache.put(key, CachedScores(result.scores, spec.key, result.usage.seconds,
                                        result.usage.peak_memory_mb))
    if spec.ablation == "invert":  # the method's per-layer counts, its lowest scores
        result.masks = invert_within_layers(result.masks, result.scores)
    return result, cached.source_run if cached is not None else None


def _ablate(spec: RunSpec, masks: dict[str, torch.Tensor], model: nn.Module, data: ImageData,
            device: torch.device, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Apply the spec's sanity ablation (shuffle, reinit) to the mask or the weights."""
    if spec.ablation == "shuffle":
        return shuffle_within_layers(masks, seed=spec.seed)
    if spec.ablation == "reinit":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed + 1_000_003)  # fresh draws, still reproducible
            fresh = build_model(spec.model, num_classes=data.num_classes,
                                input_shape=data.input_shape).to(device)
        reinitialize(model, fresh, list(masks), optimizer)
    return masks


def execute(
    spec: RunSpec,
    data: ImageData,
    *,
    device: torch.device | str = "cpu",
    on_epoch: EpochCallback | None = None,
    score_cache: ScoreCache | None = None,
    evaluate_test: bool = True,
) -> RunResult:
    """Train, prune and train sparse as `spec` says; `on_epoch(epoch, metrics)` after each epoch.
    With `score_cache`, scores computed by an earlier run of the same configuration are reused.
    With `evaluate_test` False, `data.test_x` and `data.test_y` are never read and the metrics
    carry no test numbers (for tuning on the validation split)."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    seed_everything(spec.seed)
    model = build_model(spec.model, num_classes=data.num_classes, input_shape=data.input_shape)
    model.to(device)
    if cuda:
        model.to(memory_format=torch.channels_last)
    initial = copy.deepcopy(model.state_dict()) if spec.pruning.rewind else None

    recipe = spec.training
    optimizer = make_optimizer(model, recipe)
    scheduler = make_scheduler(optimizer, recipe)
    loader = dict(mean=data.mean, std=data.std, device=device, channels_last=cuda)
    train = DeviceLoader(data.train_x, data.train_y, batch_size=recipe.batch_size, shuffle=True,
                         augment=data.augment, seed=spec.seed, **loader)
    val = DeviceLoader(data.val_x, data.val_y, batch_size=1024, **loader)
    test = (DeviceLoader(data.test_x, data.test_y, batch_size=1024, **loader)
            if evaluate_test else None)

    sparse: SparseState | None = None
    pruned: PruneResult | None = None
    reused_from: str | None = None
    history: list[dict[str, float]] = []
    best: dict[str, float] = {}
    for epoch in range(recipe.epochs):
        if epoch == spec.warmup_epochs and not spec.is_dense:
            pruned, reused_from = prune_model(spec, model, data, device, score_cache)
            if initial is not None:
                model.load_state_dict(initial)
            pruned.masks = _ablate(spec, pruned.masks, model, data, device, optimizer)
            sparse = SparseState(model, pruned.masks)
            sparse.prune(optimizer)
        metrics = train_epoch(model, train, optimizer, sparse=sparse, device=device)
        scheduler.step()
        v = evaluate(model, val, device=device)
        metrics.update(val_loss=v["loss"], val_acc=v["top1"])
        if test is not None:
            t = evaluate(model, test, device=device)
            metrics.update(test_loss=t["loss"], test_acc=t["top1"], test_top5=t["top5"])
        metrics["lr"] = optimizer.param_groups[0]["lr"]
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        sparse_phase = spec.is_dense or epoch >= spec.warmup_epochs
        if sparse_phase and (not best or metrics["val_acc"] > best["val_acc"]):
            best = {"val_acc": metrics["val_acc"], "epoch": epoch}
            if test is not None:
                best.update(test_acc=metrics["test_acc"], test_top5=metrics["test_top5"])

    final = history[-1]
    summary = {
        "final_test_acc": final.get("test_acc"),
        "final_test_top5": final.get("test_top5"),
        "final_val_acc": final["val_acc"],
        "best_val_acc": best["val_acc"],
        "best_val_test_acc": best.get("test_acc"),
        "best_val_test_top5": best.get("test_top5"),
        "best_val_epoch": best["epoch"],
    }
    result = RunResult(metrics={k: v for k, v in summary.items() if v is not None},
                       history=history, model=model)
    if pruned is not None:
        masks = {n: (model.get_parameter(n) != 0).to(torch.float32) for n in pruned.masks}
        result.layers = pruned.layers
        result.method_options = pruned.options
        result.masks = {n: m.bool().cpu() for n, m in pruned.masks.items()}
        result.scores_reused_from = reused_from
        effective = effective_masks(model, pruned.masks, data.input_shape)
        result.effective_kept = {n: int(m.sum()) for n, m in effective.items()}
        result.metrics.update(
            achieved_sparsity=achieved_sparsity(pruned.masks),
            # measured on the trained weights: proves the mask held (0 = every pruned weight is 0)
            revived_weights=float(sum(int((m - pruned.masks[n].to(m)).clamp(min=0).sum())
                                      for n, m in masks.items())),
            collapsed_layers=float(sum(d.collapsed for d in pruned.layers)),
            effective_sparsity=achieved_sparsity(effective),
            scoring_seconds=pruned.usage.seconds,
            scoring_peak_memory_mb=pruned.usage.peak_memory_mb,
        )
    return result
