"""Sanity ablations keep every layer's kept count exactly; each does what it says; the axis runs
from a suite and shows in the leaderboard as its own column."""

from __future__ import annotations

import torch
import yaml

from pai_bench import prune
from pai_bench.ablation import invert_within_layers, shuffle_within_layers
from pai_bench.cli import main
from pai_bench.data import load_dataset
from pai_bench.leaderboard import load_runs
from pai_bench.masks import layer_densities
from pai_bench.models import build_model
from pai_bench.run import execute
from pai_bench.spec import RunSpec, Scoring, Training
from pai_bench.tracking import Tracker


def spec(ablation: str, method: str = "snip") -> RunSpec:
    return RunSpec(model="tiny_cnn", dataset="digits", method=method, sparsity=0.9,
                   warmup_epochs=0, seed=0, dataset_options=(("channels", 1), ("size", 8)),
                   training=Training(epochs=1, batch_size=256, lr=0.05, schedule="constant"),
                   scoring=Scoring(samples=64, batch_size=64), ablation=ablation)


def test_shuffle_keeps_each_layer_count_and_moves_positions():
    g = torch.Generator().manual_seed(0)
    masks = {"a": (torch.rand(40, 9, generator=g) > 0.7).float(),
             "b": (torch.rand(100, generator=g) > 0.95).float()}
    shuffled = shuffle_within_layers(masks, seed=3)
    assert [d.kept for d in layer_densities(shuffled)] == [d.kept for d in layer_densities(masks)]
    assert not torch.equal(shuffled["a"], masks["a"])
    assert all(torch.equal(shuffled[n], shuffle_within_layers(masks, seed=3)[n]) for n in masks)


def test_invert_keeps_each_layers_count_with_its_lowest_scores():
    torch.manual_seed(0)
    model = build_model("tiny_cnn", num_classes=10, input_shape=(1, 8, 8))
    x = torch.randn(4, 1, 8, 8)
    result = prune("magnitude", model, [(x, torch.zeros(4, dtype=torch.long))], 0.9)
    inverted = invert_within_layers(result.masks, result.scores)
    for n, mask in result.masks.items():
        w = model.get_parameter(n).detach().abs()
        kept, pruned = w[inverted[n].bool()], w[~inverted[n].bool()]
        assert len(kept) == int(mask.sum())  # the method's count in this layer
        if len(kept) and len(pruned):
            assert kept.max() <= pruned.min()  # its lowest scores


def test_run_ablations_keep_layer_counts(tmp_path):
    digits = load_dataset("digits", size=8, channels=1)
    runs = {a: execute(spec(a), digits) for a in ["none", "shuffle", "reinit", "invert"]}
    counts = {a: [int(m.sum()) for m in r.masks.values()] for a, r in runs.items()}
    assert counts["shuffle"] == counts["none"] == counts["reinit"] == counts["invert"]
    for n, mask in runs["none"].masks.items():
        if 0 < mask.sum() < mask.numel():  # in a layer with a choice, invert chose otherwise
            assert not torch.equal(runs["invert"].masks[n], mask)
    assert any(not torch.equal(runs["shuffle"].masks[n], runs["none"].masks[n])
               for n in runs["none"].masks)
    assert all(torch.equal(runs["reinit"].masks[n], runs["none"].masks[n])
               for n in runs["none"].masks)
    first = next(iter(runs["none"].masks))
    assert not torch.equal(runs["reinit"].model.get_parameter(first),
                           runs["none"].model.get_parameter(first))  # fresh weights
    for r in runs.values():  # the mask held in every case
        for n, m in r.masks.items():
            assert (r.model.get_parameter(n).detach()[~m] == 0).all()


def test_ablation_axis_from_a_suite_to_the_leaderboard(tmp_path):
    suite = {"name": "abl", "grid": {"model": "tiny_cnn", "dataset": "digits", "method": "snip",
                                     "sparsity": 0.9, "seed": 0,
                                     "ablation": ["none", "shuffle"]},
             "datasets": {"digits": {"size": 8, "channels": 1}},
             "training": {"epochs": 1, "batch_size": 256, "lr": 0.05, "schedule": "constant"},
             "scoring": {"samples": 64, "batch_size": 64}}
    path = tmp_path / "abl.yaml"
    path.write_text(yaml.safe_dump(suite))
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    assert main(["run", str(path), "--tracking-uri", uri, "--no-progress"]) == 0
    runs = load_runs(Tracker("abl", tracking_uri=uri))
    assert sorted(runs["method"]) == ["snip", "snip+shuffle"]
