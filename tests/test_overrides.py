"""Override files: which runs an entry changes (and only those, with new run keys), later
entries winning, merging on write, and a one-line error for every kind of bad file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pai_bench.cli import main
from pai_bench.errors import ConfigError
from pai_bench.overrides import (
    Override,
    apply_override_file,
    load_overrides,
    override_specs,
    write_overrides,
)
from pai_bench.suite import load_suite

SUITE: dict[str, Any] = {
    "name": "unit",
    "grid": {"model": "tiny_cnn", "dataset": "digits", "method": ["fts", "snip"],
             "sparsity": [0.5, 0.9], "warmup_epochs": [0, 1], "seed": [0, 1],
             "ablation": ["none", "shuffle"]},
    "datasets": {"digits": {"size": 8, "channels": 1}},
    "training": {"epochs": 3, "lr": 0.05, "schedule": "cosine"},
    "dense_baseline": True,
}


@pytest.fixture
def suite(tmp_path: Path):
    path = tmp_path / "unit.yaml"
    path.write_text(yaml.safe_dump(SUITE))
    return load_suite(path)


def write(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    path = tmp_path / "o.yaml"
    path.write_text(yaml.safe_dump({"overrides": entries}))
    return path


def test_only_matching_runs_change(tmp_path, suite):
    path = write(tmp_path, [{
        "match": {"method": "fts", "model": "tiny_cnn", "dataset": "digits", "sparsity": 0.9,
                  "warmup_epochs": 1},
        "training": {"lr": 0.2, "weight_decay": 1e-4, "milestones": [1, 2]},
    }])
    changed = apply_override_file(suite, path)
    assert len(changed.specs) == len(suite.specs) == 2 + 2 * 2 * 2 * 2 * 2
    hits = 0
    for before, after in zip(suite.specs, changed.specs):
        axes = before.axes()
        if (axes["method"], axes["sparsity"], axes["warmup_epochs"]) == ("fts", 0.9, 1):
            hits += 1
            assert after.training.lr == 0.2 and after.training.weight_decay == 1e-4
            assert after.training.milestones == (1, 2)  # a tuple, as Training holds it
            assert after.training.epochs == before.training.epochs == 3
            assert after.axes() == axes and after.key != before.key
        else:
            assert after == before and after.key == before.key
    assert hits == 4  # both seeds, both ablations
    assert changed.name == suite.name and changed.path == suite.path


def test_partial_match_and_later_entries_win(tmp_path, suite):
    entries = load_overrides(write(tmp_path, [
        {"match": {"method": "snip"}, "training": {"lr": 0.1, "momentum": 0.8}},
        {"match": {"method": "snip", "sparsity": 0.5}, "training": {"lr": 0.3}},
    ]))
    specs = override_specs(suite.specs, entries)
    for spec in specs:
        if spec.method == "snip":
            assert spec.training.momentum == 0.8
            assert spec.training.lr == (0.3 if spec.sparsity == 0.5 else 0.1)
        else:
            assert spec.training.lr == 0.05 and spec.training.momentum == 0.9


def test_no_sparse_epoch_left_is_refused(tmp_path, suite):
    path = write(tmp_path, [{"match": {"warmup_epochs": 1}, "training": {"epochs": 1}}])
    with pytest.raises(ConfigError, match=r"overrides\[0\]\.training\.epochs: 1 epochs leave no "
                                          "sparse epoch after the 1-epoch warm-up"):
        apply_override_file(suite, path)


def test_write_merges_with_the_file_and_round_trips(tmp_path):
    path = tmp_path / "o.yaml"
    a = Override({"method": "fts", "sparsity": 0.9}, {"lr": 0.1}, {"study": "s/a", "trials": 3})
    b = Override({"method": "snip", "sparsity": 0.9}, {"lr": 0.2, "milestones": (2, 4)})
    write_overrides(path, [a, b], ["written by a test"])
    a2 = Override({"sparsity": 0.9, "method": "fts"}, {"lr": 0.05}, {"best_val_acc": 0.9})
    merged = write_overrides(path, [a2], ["second"])
    assert [e.to_dict() for e in merged] == [b.to_dict(), a2.to_dict()]
    loaded = load_overrides(path)
    assert [e.to_dict() for e in loaded] == [b.to_dict(), a2.to_dict()]
    assert loaded[0].training["milestones"] == (2, 4)
    assert path.read_text().startswith("# second\noverrides:\n")
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temporary file


MATCH = {"method": "fts", "sparsity": 0.9}
BAD_FILES = {
    "empty": ("", "top level: expected a mapping, got nothing", "pai-bench tune"),
    "bad YAML": ("overrides: [", "invalid YAML", "line"),
    "top-level typo": ({"override": []}, "override: unknown key", "did you mean 'overrides'?"),
    "empty list": ({"overrides": []}, "overrides: must be a non-empty list", "- match"),
    "entry not a mapping": ({"overrides": [3]}, "overrides[0]: must be a mapping", "match"),
    "no training": ({"overrides": [{"match": MATCH}]},
                    "overrides[0].training: must be a non-empty mapping (missing)", "lr: 0.05"),
    "empty match": ({"overrides": [{"match": {}, "training": {"lr": 0.1}}]},
                    "overrides[0].match: must be a non-empty mapping", "method: fts"),
    "entry key typo": ({"overrides": [{"match": MATCH, "training": {"lr": 0.1}, "studdy": "x"}]},
                       "overrides[0].studdy: unknown key", "did you mean 'study'?"),
    "training typo": ({"overrides": [{"match": MATCH, "training": {"lrr": 0.1}}]},
                      "overrides[0].training.lrr: not a training field", "did you mean 'lr'?"),
    "training value": ({"overrides": [{"match": MATCH, "training": {"lr": -1}}]},
                       "overrides[0].training.lr: must be greater than 0 (got -1)",
                       "lr takes a number > 0"),
    "training type": ({"overrides": [{"match": MATCH, "training": {"epochs": "3"}}]},
                      "overrides[0].training.epochs: must be a valid integer",
                      "epochs takes a whole number"),
    "match axis typo": ({"overrides": [{"match": {"sparsty": 0.9}, "training": {"lr": 0.1}}]},
                        "overrides[0].match.sparsty: not an axis to match on",
                        "did you mean 'sparsity'?"),
    "match seed": ({"overrides": [{"match": {"seed": 0}, "training": {"lr": 0.1}}]},
                   "overrides[0].match.seed: not an axis to match on", "match takes method"),
    "match list": ({"overrides": [{"match": {"sparsity": [0.5, 0.9]}, "training": {"lr": 0.1}}]},
                   "overrides[0].match.sparsity: must be one value", "sparsity takes"),
    "info type": ({"overrides": [{"match": MATCH, "training": {"lr": 0.1}, "trials": "many"}]},
                  "overrides[0].trials: must be int", "fix or remove it"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_override_files_are_one_line(tmp_path, case, one_line_error):
    content, what, fix = BAD_FILES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    one_line_error(load_overrides, path, what, fix)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"no such override file — write one with pai-bench tune"):
        load_overrides(tmp_path / "nope.yaml")


def test_run_with_a_bad_override_file_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "unit.yaml"
    path.write_text(yaml.safe_dump(SUITE))
    bad = write(tmp_path, [{"match": MATCH, "training": {"lr": 0}}])
    code = main(["run", str(path), "--overrides", str(bad), "--dry-run",
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{bad}: overrides[0].training.lr: must be greater than 0" in err
    assert not (tmp_path / "mlflow.db").exists()  # refused before opening the store
