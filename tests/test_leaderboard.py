"""`pai-bench leaderboard`: every number in the CSV is the pandas aggregation of the logged metrics,
incomplete groups (a missing seed, a failed run) are marked, the PNGs are images, the published
reference table is labelled, outputs are deterministic, and a missing experiment is one line.

The store is built once from real short runs: tiny_cnn on 8×8 digits, magnitude and snip at
sparsity 0.5 and 0.9, 3 planned seeds, a dense baseline. Sparsity 0.9 stays incomplete: seed 2 of
magnitude is never run, seed 2 of snip fails.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
from pathlib import Path
from types import SimpleNamespace

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from pai_bench import worker as worker_module
from pai_bench.cli import main
from pai_bench.errors import ConfigError
from pai_bench.leaderboard import FILES, add_arguments, aggregate, cmd_leaderboard
from pai_bench.reference import FTS_README, get_reference
from pai_bench.tracking import KEY_TAG, Tracker, git_commit

SUITE = {
    "name": "tiny",
    "grid": {
        "model": "tiny_cnn",
        "dataset": "digits",
        "method": ["magnitude", "snip"],
        "sparsity": [0.5, 0.9],
        "warmup_epochs": 0,
        "seed": [0, 1, 2],
    },
    "datasets": {"digits": {"size": 8, "channels": 1}},
    "training": {"epochs": 1, "batch_size": 128, "lr": 0.1, "schedule": "constant"},
    "scoring": {"samples": 64, "batch_size": 64},
    "dense_baseline": True,
}
AXES = ["model", "dataset", "warmup_epochs", "sparsity", "method"]
LABEL = (
    "reported by the FTS repository (Gollini/Fisher_Taylor_Sensitivity README), not measured here"
)


def leaderboard(*argv: str) -> tuple[int, str]:
    """Run the command as the CLI would; returns (exit code, stdout)."""
    parser = argparse.ArgumentParser(prog="pai-bench leaderboard")
    add_arguments(parser)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cmd_leaderboard(parser.parse_args(list(argv)))
    return code, out.getvalue()


def fail_one(real):
    """`execute` that fails snip's seed-2 run at sparsity 0.9."""

    def execute(spec, data, **kwargs):
        if (spec.method, spec.sparsity, spec.seed) == ("snip", 0.9, 2):
            raise RuntimeError("injected failure")
        return real(spec, data, **kwargs)

    return execute


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaderboard")
    uri = f"sqlite:///{root / 'store.db'}"
    suite = root / "tiny.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    run = ["run", str(suite), "--tracking-uri", uri, "--device", "cpu", "--no-progress"]
    git_commit()  # cached: computed here, in the checkout, not in the folder below
    cwd, threads = os.getcwd(), torch.get_num_threads()
    os.chdir(root)  # MLflow puts the artifacts of a sqlite store under ./mlruns
    torch.set_num_threads(1)  # tiny nets: one thread is faster on 2 shared cores
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main([*run, "--filter", "seed=0|1"]) == 0
            assert main([*run, "--filter", "sparsity=0.0|0.5,seed=2"]) == 0
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(worker_module, "execute", fail_one(worker_module.execute))
                assert main([*run, "--filter", "method=snip,sparsity=0.9,seed=2"]) == 1
        out = root / "board"
        code, stdout = leaderboard(
            str(suite), "--tracking-uri", uri, "--out", str(out), "--reference", "fts_readme"
        )
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
    assert code == 0
    return SimpleNamespace(root=root, uri=uri, suite=suite, out=out, stdout=stdout)


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, comment="#", keep_default_na=False, na_values=[""])


def logged(uri: str) -> pd.DataFrame:
    """The runs as MLflow returns them, without any pai_bench.leaderboard code."""
    rows = []
    for run in Tracker("tiny", tracking_uri=uri).runs():
        tags = run.data.tags
        rows.append(
            {
                "key": tags[KEY_TAG],
                "status": run.info.status,
                "model": tags["pai_bench.model"],
                "dataset": tags["pai_bench.dataset"],
                "warmup_epochs": int(tags["pai_bench.warmup_epochs"]),
                "sparsity": float(tags["pai_bench.sparsity"]),
                "method": tags["pai_bench.method"],
                **run.data.metrics,
            }
        )
    return pd.DataFrame(rows)


def expected(uri: str, metric: str) -> pd.DataFrame:
    runs = logged(uri)
    assert runs["key"].is_unique  # one attempt per key: no rerun to choose between
    done = runs[runs["status"] == "FINISHED"]
    stats = done.groupby(AXES)[metric].agg(mean="mean", std="std", n="count")
    stats["failed"] = runs[runs["status"] == "FAILED"].groupby(AXES).size()
    stats["achieved_sparsity"] = done.groupby(AXES)["achieved_sparsity"].mean()
    stats["collapsed"] = done.assign(c=done["collapsed_layers"] > 0).groupby(AXES)["c"].sum()
    return stats.fillna({"failed": 0, "collapsed": 0})


def check_numbers(csv: pd.DataFrame, want: pd.DataFrame, metric: str) -> None:
    got = csv.set_index(AXES).sort_index()
    assert list(got.index) == list(want.index)
    assert (got["metric"] == metric).all()
    for column in ("mean", "std", "achieved_sparsity"):
        np.testing.assert_allclose(
            got[column].to_numpy(float),
            want[column].to_numpy(float),
            rtol=0,
            atol=1e-8,
            equal_nan=True,
        )
    for column in ("n", "failed", "collapsed"):
        assert got[column].tolist() == want[column].astype(int).tolist(), column


def test_csv_equals_the_pandas_aggregation_of_logged_metrics(store):
    csv = read_csv(store.out / FILES["csv"])
    check_numbers(csv, expected(store.uri, "final_test_acc"), "final_test_acc")
    assert (csv["planned"] == 3).all() and len(csv) == 5
    dense = csv[csv["method"] == "dense"].iloc[0]
    assert dense["sparsity"] == 0 and dense["n"] == 3 and bool(dense["complete"])


def test_incomplete_groups_are_marked(store):
    csv = read_csv(store.out / FILES["csv"]).set_index(["method", "sparsity"])
    assert csv["complete"].to_dict() == {
        ("dense", 0.0): True,
        ("magnitude", 0.5): True,
        ("magnitude", 0.9): False,
        ("snip", 0.5): True,
        ("snip", 0.9): False,
    }
    assert csv.loc[("magnitude", 0.9), "n"] == 2 and csv.loc[("magnitude", 0.9), "failed"] == 0
    assert csv.loc[("snip", 0.9), "n"] == 2 and csv.loc[("snip", 0.9), "failed"] == 1
    assert set(csv.loc[[("magnitude", 0.9), ("snip", 0.9)], "mark"].fillna("")) == {""}
    assert "best" in set(csv.loc[[("magnitude", 0.5), ("snip", 0.5)], "mark"])

    md = (store.out / FILES["markdown"]).read_text()
    row_90 = next(line for line in md.splitlines() if line.startswith("| 0.90 | 0.10 |"))
    row_50 = next(line for line in md.splitlines() if line.startswith("| 0.50 | 0.50 |"))
    assert row_90.count("†2/3") == 2 and "(1 failed)" in row_90 and "**" not in row_90
    assert "†" not in row_50 and "**" in row_50
    assert "Runs counted: 13 finished, 1 failed, 0 unfinished of 15 planned" in md
    assert "Dense baseline (no pruning): " in md and store.stdout == md


def test_best_val_metric_without_a_suite(store):
    out = store.root / "by_experiment"
    code, _ = leaderboard(
        "--experiment",
        "tiny",
        "--tracking-uri",
        store.uri,
        "--out",
        str(out),
        "--metric",
        "best_val",
    )
    assert code == 0
    csv = read_csv(out / FILES["csv"])
    check_numbers(csv, expected(store.uri, "best_val_test_acc"), "best_val_test_acc")
    # without a suite the planned seeds are the most any group attempted: 3
    assert (csv["planned"] == 3).all()
    assert csv.set_index(["method", "sparsity"])["complete"].sum() == 3
    assert "reported by the FTS" not in (out / FILES["markdown"]).read_text()


def test_pngs_are_images(store):
    for kind in ("accuracy", "layers"):
        path = store.out / FILES[kind]
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = matplotlib.image.imread(path)
        assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert pixels.std() > 0  # not blank
        with Image.open(path) as image:
            assert image.format == "PNG" and "Suite: tiny" in image.text["Description"]


def test_reference_table_beside_ours(store):
    md = (store.out / FILES["markdown"]).read_text()
    assert f"## Reference: {LABEL}" in md
    assert "| 0.90 | 0.10 |" in md and "**90.55 ± 0.23**" in md and "GraSP inverted*" in md
    assert LABEL in (store.out / FILES["html"]).read_text()
    tex = (store.out / FILES["latex"]).read_text()
    assert r"\toprule" in tex and r"\textbf{90.55 $\pm$ 0.23}" in tex
    assert "Gollini/Fisher\\_Taylor\\_Sensitivity" in tex
    assert FTS_README.cells()[(0.99, "fts")] == (84.85, 0.18)
    assert len(FTS_README.rows) == 5 and all(len(c) == 9 for _, c in FTS_README.rows)
    assert "grasp" not in dict(FTS_README.columns)  # the inverted variant is never `grasp`
    with pytest.raises(ConfigError, match="fts_readme"):
        get_reference("fts_readm")


def test_outputs_are_deterministic_and_state_provenance(store):
    again = store.root / "again"
    assert (
        leaderboard(
            str(store.suite),
            "--tracking-uri",
            store.uri,
            "--out",
            str(again),
            "--reference",
            "fts_readme",
        )[0]
        == 0
    )
    for kind in ("markdown", "csv", "latex", "html"):
        first, second = ((d / FILES[kind]).read_text() for d in (store.out, again))
        for text in (first, second):
            for label in (
                "Suite: tiny",
                "Runs counted:",
                "Git commit:",
                "Device:",
                "Packages:",
                "torch",
                "Generated:",
            ):
                assert label in text, (kind, label)

        def strip(text: str) -> list[str]:
            return [line for line in text.splitlines() if "Generated:" not in line]

        assert strip(first) == strip(second), kind


def test_missing_experiment_is_one_config_error_line(store, tmp_path):
    with pytest.raises(ConfigError) as err:
        leaderboard("--experiment", "nope", "--tracking-uri", store.uri, "--out", str(tmp_path))
    message = str(err.value)
    assert "'nope'" in message and "pai-bench run" in message and "tiny" in message
    assert len(message.splitlines()) == 1
    assert Tracker("tiny", tracking_uri=store.uri).client.get_experiment_by_name("nope") is None
    missing = tmp_path / "absent.db"
    with pytest.raises(ConfigError, match="no tracking store"):
        leaderboard("--experiment", "tiny", "--tracking-uri", f"sqlite:///{missing}")
    assert not missing.exists()


def synthetic(rows: list[tuple[str, float, int, str, float]]) -> pd.DataFrame:
    """Runs (method, sparsity, seed, status, accuracy), tiny_cnn / digits, warm-up 0."""
    return pd.DataFrame(
        [
            {
                "run_key": f"{m}-{s}-{seed}",
                "status": status,
                "model": "tiny_cnn",
                "dataset": "digits",
                "warmup_epochs": 0,
                "sparsity": s,
                "method": m,
                "seed": seed,
                "final_test_acc": acc,
                "achieved_sparsity": s,
                "collapsed_layers": 1.0 if m == "c" else 0.0,
            }
            for m, s, seed, status, acc in rows
        ]
    )


def test_best_ties_collapse_and_single_seed():
    runs = synthetic(
        [
            ("a", 0.9, 0, "FINISHED", 0.90),
            ("a", 0.9, 1, "FINISHED", 0.80),  # best: 85 ± 7.07
            ("b", 0.9, 0, "FINISHED", 0.80),
            ("b", 0.9, 1, "FINISHED", 0.79),  # 79.5: within std
            ("c", 0.9, 0, "FINISHED", 0.60),
            ("c", 0.9, 1, "FINISHED", 0.60),  # below; collapsed
            ("d", 0.9, 0, "FINISHED", 0.99),
            ("d", 0.9, 1, "KILLED", math.nan),  # incomplete
            ("e", 0.5, 0, "FINISHED", 0.70),  # one seed of two planned
        ]
    )
    table = aggregate(runs).set_index("method")
    assert table["mark"].to_dict() == {"a": "best", "b": "tie", "c": "", "d": "", "e": ""}
    assert table.loc["c", "collapsed"] == 2 and table.loc["d", "failed"] == 1
    assert table.loc["e", "n"] == 1 and math.isnan(table.loc["e", "std"])
    assert table["planned"].eq(2).all() and not table.loc["e", "complete"]
    assert table.loc["a", "std"] == pytest.approx(np.std([0.9, 0.8], ddof=1))
