"""Critical compression (Tanaka et al., NeurIPS 2020, Fig. 1): the largest compression 1/density at
which a method, pruning at initialization, still leaves every prunable layer at least one weight.

Compressions run over 10^0 … 10^max in steps of `step` decades. A one-shot method is scored once
and masked at every compression; an iterative one (SynFlow, 100 rounds per target) is searched by
bisection over the same grid, assuming that once a layer is empty it stays empty at higher
compression (the points it evaluated are reported, so the assumption can be checked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from pai_bench.data import ImageData
from pai_bench.data.sampling import scoring_batches
from pai_bench.masks import layer_densities, masks_from_scores
from pai_bench.method import make_seeded_method
from pai_bench.models import build_model
from pai_bench.models.init import initialize
from pai_bench.scoring import compute_scores, prune


@dataclass
class Point:
    log10_compression: float
    densities: dict[str, float]

    @property
    def collapsed(self) -> list[str]:
        return [n for n, d in self.densities.items() if d == 0]

    @property
    def layers_kept(self) -> float:
        """Fraction of prunable layers with at least one weight."""
        return 1 - len(self.collapsed) / len(self.densities)


@dataclass
class Critical:
    method: str
    seed: int
    log10_critical: float  # the largest grid compression with no collapsed layer
    points: list[Point] = field(default_factory=list)


def grid(max_log10: float, step: float) -> list[float]:
    return [round(k * step, 6) for k in range(int(round(max_log10 / step)) + 1)]


def sparsity_of(log10_compression: float) -> float:
    return 1 - 10 ** (-log10_compression)


def critical_compression(
    method: str, model_name: str, data: ImageData, seed: int, *, max_log10: float = 6.0,
    step: float = 0.25, samples: int = 100, batch_size: int = 100,
    device: torch.device | str = "cpu", init: str = "default", prune_classifier: bool = False,
    **options: object,
) -> Critical:
    """Score `model_name` at initialization (seed `seed`, scheme `init` of
    `pai_bench.models.init`) and find its critical compression."""
    device = torch.device(device)
    m = make_seeded_method(method, seed, **options)
    torch.manual_seed(seed)
    model = build_model(model_name, num_classes=data.num_classes, input_shape=data.input_shape)
    initialize(model, init)
    model.to(device)
    batches = scoring_batches(data, samples=samples, batch_size=batch_size, seed=seed,
                              device=device) if m.needs_data else []
    points = grid(max_log10, step)
    evaluated: dict[float, Point] = {}

    if m.rounds == 1:
        scores = compute_scores(m, model, batches, input_shape=data.input_shape,
                                prune_classifier=prune_classifier)

        def masks_at(c: float) -> dict[str, torch.Tensor]:
            return masks_from_scores(scores, sparsity_of(c))
    else:
        def masks_at(c: float) -> dict[str, torch.Tensor]:
            return prune(m, model, batches, sparsity_of(c), input_shape=data.input_shape,
                         prune_classifier=prune_classifier).masks

    def evaluate(c: float) -> Point:
        return Point(c, {d.name: d.density for d in layer_densities(masks_at(c))})

    def intact(i: int) -> bool:
        c = points[i]
        if c not in evaluated:
            evaluated[c] = evaluate(c)
        return not evaluated[c].collapsed

    if m.rounds == 1:  # cheap: every point, and the critical one is the last before a collapse
        ok = [intact(i) for i in range(len(points))]
        best = next((i - 1 for i, good in enumerate(ok) if not good), len(points) - 1)
    else:  # bisection for the last intact point
        lo, hi = 0, len(points) - 1
        if intact(hi):
            lo = hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if intact(mid) else (lo, mid)
        best = lo
    return Critical(method, seed, points[best],
                    [evaluated[c] for c in sorted(evaluated)])


def write_report(results: list[Critical], out_dir: Path, *, title: str, provenance: list[str]
                 ) -> list[Path]:
    """collapse.md (critical compression per method and seed), collapse.csv (every evaluated
    point with per-layer densities) and collapse.png (layers kept against compression)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    methods = list(dict.fromkeys(r.method for r in results))
    seeds = list(dict.fromkeys(r.seed for r in results))
    lines = [f"# {title}", "", *[f"- {p}" for p in provenance], "",
             "Critical compression: the largest 10^c (c in steps of the grid) at which no "
             "prunable layer is empty, pruning at initialization.", "",
             "| method | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
             "|---|" + "---:|" * (len(seeds) + 1)]
    for method in methods:
        values = [r.log10_critical for r in results if r.method == method]
        cells = " | ".join(f"10^{v:.2f}" for v in values)
        lines.append(f"| {method} | {cells} | 10^{sum(values) / len(values):.2f} |")
    md = out_dir / "collapse.md"
    md.write_text("\n".join(lines) + "\n")

    rows = ["method,seed,log10_compression,layers_kept,collapsed,layer,density"]
    for r in results:
        for p in r.points:
            for layer, density in p.densities.items():
                rows.append(f"{r.method},{r.seed},{p.log10_compression},{p.layers_kept:.6f},"
                            f"{len(p.collapsed)},{layer},{density:.10g}")
    csv = out_dir / "collapse.csv"
    csv.write_text("\n".join(rows) + "\n")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in methods:
        for i, r in enumerate(x for x in results if x.method == method):
            xs = [p.log10_compression for p in r.points]
            ax.plot(xs, [p.layers_kept for p in r.points], marker="o", ms=3,
                    label=method if i == 0 else None,
                    color=f"C{methods.index(method)}", alpha=0.8)
    ax.set_xlabel("log10 compression (1 / density)")
    ax.set_ylabel("fraction of prunable layers kept")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.5, 0.005, " · ".join(provenance[:3]), ha="center", fontsize=6, color="0.4")
    png = out_dir / "collapse.png"
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return [md, csv, png]
