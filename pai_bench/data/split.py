"""Stratified hold-out splits: the validation set keeps each class's share of the training set."""

from __future__ import annotations

import numpy as np

from pai_bench.errors import ConfigError

__all__ = ["stratified_split"]


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices of `labels` into (kept, held out), holding out `fraction` of every class.

    Per class, ``round(fraction * count)`` indices (Python's round) are drawn without replacement
    with ``numpy.random.default_rng(seed)``, classes in sorted order, so a seed fixes the split.
    Both index arrays are sorted int64. The FTS code (arXiv 2502.11450) splits CIFAR's 50k training
    images 40k/10k with sklearn's ``train_test_split(stratify=..., random_state=42)``: the class
    counts agree with ours, the chosen indices do not.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ConfigError(f"labels must be one-dimensional, got shape {labels.shape}")
    if not 0.0 <= float(fraction) < 1.0:
        raise ConfigError(f"the held-out fraction must be in [0, 1), got {fraction!r}")
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        count = round(float(fraction) * len(members))
        held.append(rng.permutation(members)[:count])
    held_out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    mask = np.ones(len(labels), dtype=bool)
    mask[held_out] = False
    return np.flatnonzero(mask).astype(np.int64), held_out.astype(np.int64)
