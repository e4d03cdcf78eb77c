"""Scores computed once per suite and reused for every sparsity.

A one-shot method's scores do not depend on the target sparsity or the mask scope, so within a
suite they are computed once per (model, data, method and its options, seed, warm-up, training
recipe of the warm-up, scoring data, classifier policy, device type) and every other sparsity masks
the same scores. The key covers all of that, so it cannot serve scores of another configuration.
Reuse after a warm-up needs the warm-up to be bit-identical across runs, which holds on the CPU; on
CUDA (cuDNN autotuning is not deterministic) only scores at initialization are reused.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from pai_bench.spec import RunSpec


def score_key(spec: RunSpec, method_options: dict, device: torch.device) -> str | None:
    """What the scores of `spec` depend on, hashed; None where reuse would not be exact."""
    if spec.warmup_epochs > 0 and device.type != "cpu":
        return None
    parts = {
        "model": spec.model, "dataset": spec.dataset, "dataset_options": spec.dataset_options,
        "method": spec.method, "method_options": sorted(method_options.items()),
        "seed": spec.seed, "warmup_epochs": spec.warmup_epochs,
        "training": asdict(spec.training) if spec.warmup_epochs else None,
        "scoring": asdict(spec.scoring), "prune_classifier": spec.pruning.prune_classifier,
        "device": device.type,
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class CachedScores:
    scores: dict[str, Tensor]
    source_run: str  # the run key that computed them
    seconds: float
    peak_memory_mb: float


class ScoreCache:
    """A bounded in-memory cache (oldest entries dropped first), scores kept on the CPU."""

    def __init__(self, max_entries: int = 12) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedScores] = OrderedDict()

    def get(self, key: str | None) -> CachedScores | None:
        return self._entries.get(key) if key is not None else None

    def put(self, key: str | None, entry: CachedScores) -> None:
        if key is None or self.max_entries <= 0:
            return
        entry.scores = {n: s.detach().cpu() for n, s in entry.scores.items()}
        self._entries[key] = entry
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
