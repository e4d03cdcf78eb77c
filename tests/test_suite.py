"""Suite files: one-line errors for every kind of mistake, grid expansion (counts, order,
exclusions, dense baselines), ``--set`` overrides, filters, run keys, and the shipped suites."""

from __future__ import annotations

import copy
import dataclasses
import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from pai_bench.errors import ConfigError
from pai_bench.spec import DENSE, Pruning, RunSpec, Scoring, Training, run_key
from pai_bench.suite import (
    AXES,
    PruningConfig,
    ScoringConfig,
    TrainingConfig,
    apply_overrides,
    load_suite,
    parse_filter,
)

SUITES = Path(__file__).resolve().parents[1] / "suites"

BASE: dict[str, Any] = {
    "name": "unit",
    "grid": {
        "model": "small_cnn",
        "dataset": "digits",
        "method": ["fts", "snip", "synflow"],
        "sparsity": [0.5, 0.9],
        "warmup_epochs": [0, 1],
        "seed": [0, 1, 2],
    },
    "datasets": {"digits": {"size": 8, "channels": 1}},
    "training": {"epochs": 3, "lr": 0.05, "schedule": "cosine"},
    "scoring": {"samples": 64},
    "dense_baseline": True,
}


def write(tmp_path: Path, data: dict[str, Any] | str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def changed(**sections: Any) -> dict[str, Any]:
    """BASE with top-level keys replaced (None deletes) or, for `grid`, axes merged in."""
    data = copy.deepcopy(BASE)
    for key, value in sections.items():
        if value is None:
            data.pop(key, None)
        elif key == "grid":
            data["grid"].update(value)
        else:
            data[key] = value
    return data


# -------------------------------------------------------------------------------------- errors

BAD = [  # (id, suite text or data, overrides, the field path, another fragment of the message)
    ("broken-yaml", "name: x\ngrid: [small_cnn,\n  dataset: digits\n", (), "line ", "YAML"),
    ("duplicate-yaml-key", "name: x\nname: y\n", (), "line 2", "twice"),
    ("empty-file", "", (), "top level", "empty"),
    ("top-level-list", "- name: x\n", (), "top level", "mapping"),
    ("unknown-top-level-key", {**BASE, "trainig": {}}, (), "trainig", "did you mean 'training'"),
    (
        "unknown-grid-key",
        changed(grid={"warmup_epoch": 1}),
        (),
        "grid.warmup_epoch",
        "did you mean 'warmup_epochs'",
    ),
    (
        "unknown-training-key",
        changed(training={"epoch": 3}),
        (),
        "training.epoch",
        "did you mean 'epochs'",
    ),
    (
        "unknown-exclude-axis",
        changed(exclude=[{"methd": "fts"}]),
        (),
        "exclude[0].methd",
        "did you mean 'method'",
    ),
    ("missing-grid", changed(grid=None), (), "grid", "missing"),
    ("bad-name", changed(name="my suite"), (), "name", "letters, digits"),
    (
        "epochs-wrong-type",
        changed(training={"epochs": "ten"}),
        (),
        "training.epochs",
        "valid integer",
    ),
    ("epochs-negative", changed(training={"epochs": -1}), (), "training.epochs", ">= 1"),
    ("lr-zero", changed(training={"lr": 0}), (), "training.lr", "greater than 0"),
    ("bad-optimizer", changed(training={"optimizer": "sgdm"}), (), "training.optimizer", "'adamw'"),
    (
        "milestones-not-increasing",
        changed(training={"epochs": 10, "milestones": [6, 4]}),
        (),
        "training.milestones[1]",
        "strictly increasing",
    ),
    (
        "milestone-past-epochs",
        changed(training={"epochs": 10, "milestones": [5, 10]}),
        (),
        "training.milestones[1]",
        "below training.epochs",
    ),
    (
        "nesterov-without-momentum",
        changed(training={"momentum": 0.0, "nesterov": True}),
        (),
        "training.nesterov",
        "momentum > 0",
    ),
    ("sparsity-one", changed(grid={"sparsity": [0.5, 1.0]}), (), "grid.sparsity[1]", "less than 1"),
    (
        "sparsity-negative",
        changed(grid={"sparsity": -0.1}),
        (),
        "grid.sparsity:",
        "greater than or equal to 0",
    ),
    ("sparsity-bool", changed(grid={"sparsity": True}), (), "grid.sparsity", "valid number"),
    ("seed-fraction", changed(grid={"seed": 1.5}), (), "grid.seed:", "valid integer"),
    ("seed-string", changed(grid={"seed": [0, "1"]}), (), "grid.seed[1]", "valid integer"),
    ("empty-axis", changed(grid={"seed": []}), (), "grid.seed", "at least one value"),
    (
        "unknown-method",
        changed(grid={"method": ["ftss", "snip"]}),
        (),
        "grid.method[0]",
        "did you mean 'fts'",
    ),
    (
        "unknown-model",
        changed(grid={"model": "resnet19"}),
        (),
        "grid.model",
        "did you mean 'resnet18'",
    ),
    ("empty-timm-name", changed(grid={"model": "timm:"}), (), "grid.model", "timm:<name>"),
    (
        "unknown-dataset",
        changed(grid={"dataset": "cifar11"}),
        (),
        "grid.dataset",
        "did you mean 'cifar10'",
    ),
    (
        "dense-in-grid",
        changed(grid={"method": ["fts", "dense"]}),
        (),
        "grid.method[1]",
        "dense_baseline: true",
    ),
    ("repeated-axis-value", changed(grid={"seed": [0, 1, 0]}), (), "grid.seed[2]", "twice"),
    (
        "warmup-equals-epochs",
        changed(grid={"warmup_epochs": [0, 3]}),
        (),
        "grid.warmup_epochs[1]",
        "training.epochs = 3",
    ),
    (
        "bad-method-option",
        changed(methods={"fts": {"mask_batch": 0}}),
        (),
        "methods.fts.mask_batch",
        "mask_batch",
    ),
    (
        "unknown-method-option",
        changed(methods={"fts": {"mask_bach": 4}}),
        (),
        "methods.fts.mask_bach",
        "did you mean 'mask_batch'",
    ),
    (
        "method-option-wrong-type",
        changed(methods={"synflow": {"rounds": "many"}}),
        (),
        "methods.synflow.rounds",
        "int",
    ),
    (
        "options-for-method-not-in-grid",
        changed(methods={"grasp": {"temperature": 100}}),
        (),
        "methods.grasp",
        "grid.method",
    ),
    (
        "options-for-unknown-method",
        changed(methods={"snipp": {}}),
        (),
        "methods.snipp",
        "did you mean 'snip'",
    ),
    ("method-options-not-a-mapping", changed(methods={"fts": 4}), (), "methods.fts", "key: value"),
    (
        "unknown-dataset-option",
        changed(datasets={"digits": {"sise": 8}}),
        (),
        "datasets.digits.sise",
        "did you mean 'size'",
    ),
    (
        "dataset-option-wrong-type",
        changed(datasets={"digits": {"size": "8"}}),
        (),
        "datasets.digits.size",
        "int",
    ),
    (
        "dataset-options-not-in-grid",
        changed(datasets={"synthetic": {"size": 8}}),
        (),
        "datasets.synthetic",
        "grid.dataset",
    ),
    ("exclude-empty-entry", changed(exclude=[{}]), (), "exclude[0]", "every run"),
    (
        "exclude-unknown-method",
        changed(exclude=[{"method": "synflw"}]),
        (),
        "exclude[0].method",
        "did you mean 'synflow'",
    ),
    ("exclude-everything", changed(exclude=[{"model": "small_cnn"}]), (), "exclude", "every run"),
    ("bad-scope", changed(pruning={"scope": "local"}), (), "pruning.scope", "'layer'"),
    ("scoring-samples-zero", changed(scoring={"samples": 0}), (), "scoring.samples", ">= 1"),
    ("set-without-equals", BASE, ("training.epochs3",), "--set 'training.epochs3'", "KEY=VALUE"),
    ("set-empty-key-part", BASE, ("training..epochs=3",), "--set", "KEY=VALUE"),
    ("set-into-scalar", BASE, ("grid.model.depth=3",), "--set", "not a mapping"),
    ("set-bad-value", BASE, ("grid.seed=[0,",), "--set", "not valid YAML"),
    ("set-wrong-type", BASE, ("training.epochs=three",), "training.epochs", "valid integer"),
    ("set-unknown-key", BASE, ("training.lrr=0.1",), "training.lrr", "did you mean 'lr'"),
]


@pytest.mark.parametrize(
    ("data", "overrides", "path", "fragment"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_bad_suite_is_one_line_config_error(tmp_path, data, overrides, path, fragment):
    file = write(tmp_path, data, name="bad_suite.yaml")
    with pytest.raises(ConfigError) as err:
        load_suite(file, overrides)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{file}: ")
    assert path in message
    assert fragment in message


def test_error_format_file_path_what_fix(tmp_path):
    file = write(tmp_path, changed(grid={"sparsity": [0.5, 1.0]}))
    with pytest.raises(ConfigError) as err:
        load_suite(file)
    assert str(err.value) == (
        f"{file}: grid.sparsity[1]: must be less than 1 (got 1.0) — sparsity takes fractions of "
        "prunable weights removed, in [0, 1), e.g. 0.9 or 0.99"
    )


def test_several_schema_errors_report_the_first_and_count_the_rest(tmp_path):
    file = write(tmp_path, changed(training={"epochs": 0, "lr": -1.0, "gamma": 2.0}))
    with pytest.raises(ConfigError, match=r"training\.epochs: .* \(and 2 more\)$"):
        load_suite(file)


def test_missing_file_suggests_a_close_name(tmp_path):
    write(tmp_path, BASE, name="quickstart.yaml")
    with pytest.raises(ConfigError) as err:
        load_suite(tmp_path / "quikstart.yaml")
    message = str(err.value)
    assert "quikstart.yaml: no such suite file" in message and "quickstart.yaml'?" in message
    assert "\n" not in message


# ----------------------------------------------------------------------------------- expansion


def test_expansion_count_is_product_plus_dense_minus_exclusions(tmp_path):
    assert len(load_suite(write(tmp_path, BASE))) == 3 * 2 * 2 * 3 + 3
    excluded = changed(
        exclude=[
            {"method": "synflow", "warmup_epochs": 1},
            {"method": ["fts", "snip"], "sparsity": 0.9, "seed": [1, 2]},
        ]
    )
    assert len(load_suite(write(tmp_path, excluded))) == 39 - 2 * 3 - 2 * 2 * 2
    no_dense = changed(dense_baseline=None)
    assert len(load_suite(write(tmp_path, no_dense))) == 36


def test_exclusion_matches_all_given_axes_and_can_drop_dense_runs(tmp_path):
    suite = load_suite(write(tmp_path, changed(exclude=[{"seed": 2}])))
    assert len(suite) == 39 - 13
    assert all(spec.seed != 2 for spec in suite)


def test_order_model_dataset_then_dense_first_then_method_sparsity_warmup_seed(tmp_path):
    data = changed(
        grid={
            "model": ["small_cnn", "tiny_cnn"],
            "dataset": ["digits", "synthetic"],
            "method": ["snip", "fts"],
            "sparsity": 0.5,
            "warmup_epochs": [1, 0],
            "seed": [2, 0],
        }
    )
    data["datasets"] = {}
    specs = load_suite(write(tmp_path, data)).specs
    expected = []
    for model, dataset in itertools.product(["small_cnn", "tiny_cnn"], ["digits", "synthetic"]):
        expected += [(model, dataset, DENSE, 0.0, 0, seed) for seed in (2, 0)]
        expected += [
            (model, dataset, *rest)
            for rest in itertools.product(["snip", "fts"], [0.5], [1, 0], [2, 0])
        ]
    assert [tuple(spec.axes().values())[:6] for spec in specs] == expected
    assert tuple(specs[0].axes()) == AXES


def test_specs_carry_the_recipe_and_dense_runs_drop_method_fields(tmp_path):
    data = changed(methods={"synflow": {"rounds": 10}}, pruning={"scope": "layer", "rewind": True})
    specs = load_suite(write(tmp_path, data)).specs
    dense, pruned = specs[0], specs[-1]
    assert pruned.method == "synflow" and pruned.method_options == (("rounds", 10),)
    assert pruned.pruning == Pruning(scope="layer", rewind=True)
    assert pruned.scoring == Scoring(samples=64)
    assert pruned.training == Training(epochs=3, lr=0.05, schedule="cosine")
    assert pruned.dataset_options == (("channels", 1), ("size", 8))
    assert dense.is_dense and dense.sparsity == 0.0 and dense.warmup_epochs == 0
    assert dense.method_options == () and dense.pruning == Pruning() and dense.scoring == Scoring()
    assert dense.training == pruned.training and dense.dataset_options == pruned.dataset_options
    assert isinstance(pruned.sparsity, float) and {s.sparsity for s in specs} == {0.0, 0.5, 0.9}


def test_scalars_and_integer_sparsity_and_exponent_floats(tmp_path):
    text = yaml.safe_dump(changed(grid={"sparsity": 0, "seed": 7, "warmup_epochs": 0}))
    text += "methods:\n  fbss: {damping: 1e-6}\n"
    text = text.replace("- snip\n", "- snip\n  - fbss\n")
    specs = load_suite(write(tmp_path, text)).specs
    assert {s.sparsity for s in specs} == {0.0} and {s.seed for s in specs} == {7}
    fbss = [s for s in specs if s.method == "fbss"]
    assert fbss and all(s.method_options == (("damping", 1e-6),) for s in fbss)


def test_set_overrides_apply_before_validation(tmp_path):
    file = write(tmp_path, changed(pruning=None, methods=None))
    suite = load_suite(
        file,
        [
            "grid.seed=[0,1]",
            "training.epochs=5",
            "pruning.scope=layer",
            "methods.fts.mask_batch=4",
            "dense_baseline=false",
        ],
    )
    assert len(suite) == 3 * 2 * 2 * 2
    assert {s.training.epochs for s in suite} == {5}
    assert {s.pruning.scope for s in suite} == {"layer"}
    assert {s.method_options for s in suite if s.method == "fts"} == {(("mask_batch", 4),)}
    assert suite.overrides[0] == "grid.seed=[0,1]" and suite.raw["grid"]["seed"] == [0, 1]
    assert suite.resolved["training"]["momentum"] == 0.9  # defaults filled in
    assert yaml.safe_load(file.read_text())["grid"]["seed"] == [0, 1, 2]  # the file is untouched


def test_apply_overrides_copies_and_creates_mappings():
    raw = {"grid": {"seed": 0}, "training": None}
    out = apply_overrides(raw, ["training.epochs=3", "a.b.c=x y"])
    assert out == {"grid": {"seed": 0}, "training": {"epochs": 3}, "a": {"b": {"c": "x y"}}}
    assert raw == {"grid": {"seed": 0}, "training": None}


def test_filter(tmp_path):
    suite = load_suite(write(tmp_path, BASE))
    assert len(suite.filter("method=fts,sparsity=0.9")) == 2 * 3
    assert len(suite.filter("method=fts|snip, seed=0")) == 2 * 2 * 2
    assert len(suite.filter("method=dense")) == 3
    assert len(suite.filter("method=fts,method=snip")) == 2 * 2 * 2 * 3
    assert len(suite.filter("")) == len(suite)
    assert suite.filter("seed=1").filter("warmup_epochs=1").specs == tuple(
        s for s in suite if s.seed == 1 and s.warmup_epochs == 1
    )
    assert parse_filter("sparsity=0.99|1e-3") == {"sparsity": (0.99, 0.001)}


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("metod=fts", "did you mean 'method'"),
        ("method", "AXIS=VALUE"),
        ("method=grasp", "no run has method 'grasp'"),
        ("seed=true", "no run has seed True"),
        ("sparsity=0.99", "no run has sparsity 0.99"),
    ],
)
def test_bad_filter_is_one_line_config_error(tmp_path, pattern, fragment):
    suite = load_suite(write(tmp_path, BASE))
    with pytest.raises(ConfigError) as err:
        suite.filter(pattern)
    assert fragment in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------------------------ run keys


def test_run_keys_equal_for_equal_specs_and_unique_across_the_grid(tmp_path):
    first = load_suite(write(tmp_path, BASE, "a.yaml"))
    again = load_suite(write(tmp_path, BASE, "b.yaml"))
    assert [s.key for s in first] == [s.key for s in again]
    assert len({s.key for s in first}) == len(first)  # any axis differing changes the key


def test_run_keys_change_with_every_axis_and_the_recipe(tmp_path):
    base = load_suite(write(tmp_path, BASE)).specs[-1]
    variants = [
        dataclasses.replace(base, **{axis: value})
        for axis, value in [
            ("model", "tiny_cnn"),
            ("dataset", "synthetic"),
            ("method", "snip"),
            ("sparsity", 0.95),
            ("warmup_epochs", 0),
            ("seed", 1),
        ]
    ]
    variants.append(
        dataclasses.replace(base, training=Training(epochs=4, lr=0.05, schedule="cosine"))
    )
    variants.append(dataclasses.replace(base, method_options=(("rounds", 10),)))
    assert len({run_key(s) for s in [base, *variants]}) == len(variants) + 1


def test_run_keys_unchanged_when_defaults_are_spelled_out(tmp_path):
    plain = load_suite(write(tmp_path, BASE, "plain.yaml"))
    explicit = changed(
        grid={"warmup_epochs": [0, 1]},
        pruning={"scope": "global", "prune_classifier": False, "rewind": False},
        methods={"fts": {"mask_batch": 1, "mode": "eval"}, "synflow": {"rounds": 100}},
        datasets={"digits": {"size": 8, "channels": 1, "split_seed": 42}},
        training={**BASE["training"], "momentum": 0.9, "weight_decay": 5e-4, "gamma": 0.2},
        scoring={"samples": 64, "batch_size": 256},
    )
    spelled = load_suite(write(tmp_path, explicit, "spelled.yaml"))
    assert [s.key for s in spelled] == [s.key for s in plain]
    assert spelled.specs == plain.specs


PINNED_SUITE = """
name: pinned
grid: {model: small_cnn, dataset: digits, method: fts, sparsity: 0.5, warmup_epochs: 0, seed: 0}
datasets: {digits: {size: 8, channels: 1}}
training: {epochs: 3, lr: 0.05, schedule: cosine}
scoring: {samples: 64}
dense_baseline: true
"""


def test_run_keys_pinned(tmp_path):
    """Literal keys: a change to key computation or to how suites resolve must be deliberate
    (it would orphan every finished run in a store)."""
    dense, fts = load_suite(write(tmp_path, PINNED_SUITE)).specs
    assert dense.key == "72ef8ef3374b8ffb"
    assert fts.key == "189b7df9bdb9f7ed"


# ------------------------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    ("schema", "dataclass"),
    [(TrainingConfig, Training), (PruningConfig, Pruning), (ScoringConfig, Scoring)],
)
def test_schema_mirrors_the_spec_dataclasses(schema, dataclass):
    fields = {f.name: f.default for f in dataclasses.fields(dataclass)}
    assert list(schema.model_fields) == list(fields)
    dumped = schema().model_dump()
    assert {k: tuple(v) if isinstance(v, list) else v for k, v in dumped.items()} == fields


# ------------------------------------------------------------------------------ shipped suites


def test_quickstart_loads():
    suite = load_suite(SUITES / "quickstart.yaml")
    assert suite.name == "quickstart" and suite.description
    assert len(suite) == 10 * 4 * 2 * 3 + 3
    assert {s.model for s in suite} == {"small_cnn"} and {s.dataset for s in suite} == {"digits"}
    assert all(s.dataset_options == (("channels", 1), ("size", 8)) for s in suite)
    assert len({s.method for s in suite}) == 11


def test_cifar_extreme_loads_with_the_paper_recipe():
    suite = load_suite(SUITES / "cifar_extreme.yaml")
    assert len(suite) == 2 * 2 * 6 * 6 * 2 * 3 + 12
    assert len(suite.filter("method=dense")) == 12
    pruned = [s for s in suite if not s.is_dense]
    assert {s.training for s in pruned} == {Training()}  # the paper's recipe is the default
    assert {s.scoring for s in pruned} == {Scoring(samples=40_000)}
    assert {s.sparsity for s in pruned} == {0.9, 0.95, 0.98, 0.99, 0.995, 0.998}
    assert all(s.method_options == () for s in pruned)  # mask_batch 1, rounds 100 are defaults


def test_fts_paper_loads():
    suite = load_suite(SUITES / "fts_paper.yaml")
    assert len(suite) == 9 * 5 * 3 + 3
    assert {s.seed for s in suite} == {0, 42, 123} and {s.warmup_epochs for s in suite} == {0}


def test_suite_is_hashable_and_specs_picklable(tmp_path):
    import pickle

    suite = load_suite(write(tmp_path, BASE))
    hash(suite)
    assert pickle.loads(pickle.dumps(suite.specs)) == suite.specs
    assert isinstance(suite.specs[0], RunSpec)


def test_collapse_warmup_loads():
    suite = load_suite(SUITES / "collapse_warmup.yaml")
    assert len(suite) == 2 * 7 * 4 * 2 * 3 + 6
    assert {s.warmup_epochs for s in suite if not s.is_dense} == {0, 1}
    assert min(s.sparsity for s in suite if not s.is_dense) == 0.99
