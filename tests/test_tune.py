"""`pai-bench tune`: trials never read the test split, the median pruner stops a hopeless trial
and MLflow says so, concurrent processes share one study and one parent run, the best values
round-trip through the override file into `run`, and bad space files or options are one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.entities import Run, ViewType

from pai_bench import tune as tune_module
from pai_bench.cli import main
from pai_bench.data import ImageData, load_dataset
from pai_bench.overrides import load_overrides
from pai_bench.run import execute
from pai_bench.suite import load_suite
from pai_bench.tune import load_space, study_specs

SUITE: dict[str, Any] = {
    "name": "tiny",
    "grid": {"model": "mlp", "dataset": "digits", "method": ["magnitude", "snip"],
             "sparsity": [0.5, 0.9], "warmup_epochs": 0, "seed": [0, 1]},
    "datasets": {"digits": {"size": 8, "channels": 1}},
    "training": {"epochs": 2, "batch_size": 64, "lr": 0.05, "schedule": "constant"},
    "scoring": {"samples": 64, "batch_size": 64},
}
STUDY = "tiny/magnitude/mlp/digits/s0.5/w0"
GOOD_LR, HOPELESS_LR = 0.2, 1e-5  # 1e-5 leaves the MLP at chance after one epoch


class PoisonTouched(Exception):
    """Raised by any use of a poisoned test split."""


class Poison:
    """Stands for test_x / test_y: any use (attribute, len, index, iteration, torch) raises and
    is recorded."""

    touched: list[str] = []

    def _fail(self, what: str) -> None:
        Poison.touched.append(what)
        raise PoisonTouched(f"the test split was read ({what})")

    def __getattr__(self, name: str) -> Any:
        self._fail(name)

    def __len__(self) -> int:
        self._fail("len")
        return 0

    def __getitem__(self, index: Any) -> Any:
        self._fail("getitem")

    def __iter__(self) -> Any:
        self._fail("iter")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        self._fail("array")

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        Poison.touched.append(f"torch:{func}")
        raise PoisonTouched(f"the test split was read ({func})")


def poisoned_digits() -> ImageData:
    data = load_dataset("digits", size=8, channels=1)
    object.__setattr__(data, "test_x", Poison())  # frozen dataclass: bypass on purpose
    object.__setattr__(data, "test_y", Poison())
    return data


def write_files(folder: Path, space: dict[str, Any]) -> tuple[Path, Path]:
    suite = folder / "tiny.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    space_file = folder / "space.yaml"
    space_file.write_text(yaml.safe_dump(space))
    return suite, space_file


def child_runs(uri: str) -> tuple[list[Run], list[Run]]:
    """(active parents, active children) of the tiny-tune experiment."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tiny-tune")
    runs = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ACTIVE_ONLY)
    parents = [r for r in runs if r.data.tags.get("pai_bench.role") == "study"]
    children = [r for r in runs if r.data.tags.get("pai_bench.role") == "trial"]
    return parents, children


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One in-process `tune` of magnitude at sparsity 0.5 with poisoned test data: two good
    trials, then a hopeless one (enqueued, so the outcome is deterministic)."""
    folder = tmp_path_factory.mktemp("tune")
    suite, space = write_files(folder, {"lr": {"low": 1e-6, "high": 0.5, "log": True}})
    storage = f"sqlite:///{folder / 'optuna.db'}"
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    out = folder / "tiny.overrides.yaml"
    study = optuna.create_study(storage=storage, study_name=STUDY, direction="maximize")
    for lr in (GOOD_LR, GOOD_LR, HOPELESS_LR):
        study.enqueue_trial({"lr": lr})
    Poison.touched.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tune_module, "load_data", lambda spec, data_dir: poisoned_digits())
        code = main(["tune", str(suite), "--method", "magnitude", "--space", str(space),
                     "--trials", "3", "--filter", "sparsity=0.5", "--storage", storage,
                     "--tracking-uri", uri, "--out", str(out), "--device", "cpu"])
    return {"code": code, "suite": suite, "space": space, "storage": storage, "uri": uri,
            "out": out, "folder": folder, "touched": list(Poison.touched)}


def test_trials_never_read_the_test_split(tuned):
    assert tuned["code"] == 0
    trials = optuna.load_study(study_name=STUDY, storage=tuned["storage"]).trials
    assert len(trials) == 3
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials), [t.state for t in trials]
    assert tuned["touched"] == []  # recorded right after tuning: test order cannot hide a touch
    _, children = child_runs(tuned["uri"])
    assert len(children) == 3
    for run in children:
        assert "val_acc" in run.data.metrics
        assert not any(name.startswith("test") for name in run.data.metrics)


def test_the_poison_works_on_a_normal_run(tmp_path):
    suite, _ = write_files(tmp_path, {})
    spec = study_specs(load_suite(suite), "magnitude")[0]
    Poison.touched.clear()
    with pytest.raises(PoisonTouched):
        execute(spec, poisoned_digits())
    assert Poison.touched


def test_pruner_stops_the_hopeless_trial_and_mlflow_says_so(tuned):
    study = optuna.load_study(study_name=STUDY, storage=tuned["storage"])
    states = {t.number: t.state.name for t in study.trials}
    assert states == {0: "COMPLETE", 1: "COMPLETE", 2: "PRUNED"}
    assert study.trials[2].params == {"lr": HOPELESS_LR}
    assert list(study.trials[2].intermediate_values) == [0]  # stopped after its first epoch

    parents, children = child_runs(tuned["uri"])
    assert len(parents) == 1 and parents[0].data.tags["pai_bench.study"] == STUDY
    by_number = {r.data.tags["pai_bench.trial_number"]: r for r in children}
    assert set(by_number) == {"0", "1", "2"}
    for number, run in by_number.items():
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert run.data.tags["pai_bench.trial_state"] == states[int(number)]
        assert float(run.data.params["sampled.lr"]) == study.trials[int(number)].params["lr"]
        assert run.data.params["training.lr"] == run.data.params["sampled.lr"]
        assert run.data.params["model"] == "mlp" and run.data.params["seed"] == "0"
    pruned = by_number["2"]
    assert pruned.data.tags["pai_bench.pruned_at_epoch"] == "0"
    assert "best_val_acc" not in pruned.data.metrics
    assert by_number["0"].data.metrics["best_val_acc"] == pytest.approx(study.best_value)
    assert parents[0].data.metrics["trials_pruned"] == 1
    assert parents[0].data.tags["best.lr"] == str(GOOD_LR)


def test_override_file_round_trip(tuned, capsys):
    entries = load_overrides(tuned["out"])
    assert len(entries) == 1
    entry = entries[0]
    assert dict(entry.match) == {"method": "magnitude", "model": "mlp", "dataset": "digits",
                                 "sparsity": 0.5, "warmup_epochs": 0}
    assert dict(entry.training) == {"lr": GOOD_LR}
    assert entry.info["study"] == STUDY and entry.info["trials"] == 2
    assert tuned["out"].read_text().startswith("# written by: pai-bench tune ")

    from pai_bench.overrides import apply_override_file

    plain = load_suite(tuned["suite"])
    changed = apply_override_file(plain, tuned["out"])
    assert len(changed.specs) == len(plain.specs) == 8
    matched = 0
    for before, after in zip(plain.specs, changed.specs):
        if before.method == "magnitude" and before.sparsity == 0.5:
            matched += 1
            assert after.training.lr == GOOD_LR != before.training.lr
            assert after.training.epochs == before.training.epochs
            assert after.key != before.key
            assert (after.seed, after.sparsity, after.method) == (
                before.seed, before.sparsity, before.method)
        else:
            assert after == before and after.key == before.key
    assert matched == 2  # seeds 0 and 1

    # through the CLI: the plan holds the two tuned runs under their new keys
    uri = tuned["uri"]
    assert main(["run", str(tuned["suite"]), "--overrides", str(tuned["out"]), "--dry-run",
                 "--tracking-uri", uri, "--device", "cpu"]) == 0
    assert "8 runs planned" in capsys.readouterr().out

    # --trials 0 writes the same entry from the stored study, into another file
    again = tuned["folder"] / "again.yaml"
    assert main(["tune", str(tuned["suite"]), "--method", "magnitude", "--space",
                 str(tuned["space"]), "--trials", "0", "--filter", "sparsity=0.5", "--storage",
                 tuned["storage"], "--tracking-uri", uri, "--out", str(again),
                 "--device", "cpu"]) == 0
    assert [e.to_dict() for e in load_overrides(again)] == [entry.to_dict()]


def test_a_study_refuses_another_configuration(tuned, capsys):
    code = main(["tune", str(tuned["suite"]), "--method", "magnitude", "--space",
                 str(tuned["space"]), "--trials", "1", "--filter", "sparsity=0.5", "--seed", "1",
                 "--storage", tuned["storage"], "--tracking-uri", tuned["uri"],
                 "--out", str(tuned["folder"] / "x.yaml"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"study {STUDY}: started for another configuration" in err
    assert len(optuna.load_study(study_name=STUDY, storage=tuned["storage"]).trials) == 3


def test_two_processes_share_one_study_and_one_parent_run(tmp_path):
    suite, space = write_files(tmp_path, {"lr": {"low": 0.01, "high": 0.5, "log": True}})
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = [sys.executable, "-m", "pai_bench", "tune", str(suite), "--method", "magnitude",
               "--space", str(space), "--trials", "2", "--filter", "sparsity=0.5",
               "--storage", storage, "--tracking-uri", uri, "--pruner", "none",
               "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs

    trials = optuna.load_study(study_name=STUDY, storage=storage).trials
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert len({t.user_attrs["pai_bench.process"] for t in trials}) == 2  # both added trials
    parents, children = child_runs(uri)
    assert len(parents) == 1
    assert sorted(int(r.data.tags["pai_bench.trial_number"]) for r in children) == [0, 1, 2, 3]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert load_overrides(tmp_path / "tiny.overrides.yaml")[0].info["trials"] == 4


def test_unknown_method_is_one_line_and_exit_2(tmp_path, capsys):
    suite, space = write_files(tmp_path, {"lr": {"low": 0.01, "high": 0.5}})
    code = main(["tune", str(suite), "--method", "magnitud", "--space", str(space),
                 "--storage", f"sqlite:///{tmp_path / 'optuna.db'}", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "--method 'magnitud'" in err and "did you mean 'magnitude'?" in err
    assert not (tmp_path / "optuna.db").exists()  # refused before touching any store


def test_warmup_not_shorter_than_sampled_epochs_is_refused(tmp_path, capsys):
    suite, space = write_files(tmp_path, {"epochs": {"low": 1, "high": 3}})
    code = main(["tune", str(suite), "--method", "magnitude", "--space", str(space),
                 "--set", "grid.warmup_epochs=1", "--storage",
                 f"sqlite:///{tmp_path / 'optuna.db'}", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{space}: epochs.low: 1 epochs leave no sparse epoch" in err


BAD_SPACES = {
    "unknown field": ("lrr: {low: 0.1, high: 0.2}", "lrr: not a training field",
                      "did you mean 'lr'?"),
    "low above high": ("lr: {low: 0.3, high: 0.1}", "lr: low 0.3 is not below high 0.1", ""),
    "log from zero": ("weight_decay: {low: 0, high: 0.1, log: true}",
                      "weight_decay.low: a log scale needs low > 0", ""),
    "float for an int": ("epochs: {low: 2.5, high: 4}", "epochs.low: must be a whole number", ""),
    "out of bounds": ("momentum: {low: 0.5, high: 1.5}", "momentum.high: must be less than 1",
                      "momentum takes a number in [0, 1)"),
    "range of a string": ("optimizer: {low: 1, high: 2}", "optimizer: a str field has no range",
                          "choices"),
    "bad choice": ("optimizer: {choices: [sgd, adamm]}", "optimizer.choices[1]: must be",
                   "sgd, adam or adamw"),
    "empty choices": ("momentum: {choices: []}", "momentum.choices: must be a non-empty list", ""),
    "milestones": ("milestones: {choices: [[1]]}", "milestones: a list cannot be tuned", ""),
    "typo in a key": ("lr: {low: 0.1, high: 0.2, stepp: 0.1}", "lr.stepp: unknown key",
                      "did you mean 'step'?"),
    "not a mapping": ("lr: 0.1", "lr: must be a mapping", "{low: ..., high: ...}"),
    "log and step": ("lr: {low: 0.1, high: 0.2, log: true, step: 0.05}",
                     "lr.step: log and step exclude each other", ""),
    "empty file": ("", "top level: expected a mapping, got nothing", "tune_quickstart.yaml"),
    "bad YAML": ("lr: {low: 0.1, high: 0.2", "invalid YAML", ""),
}


@pytest.mark.parametrize("case", list(BAD_SPACES))
def test_bad_space_files_are_one_line(tmp_path, case, one_line_error):
    text, what, fix = BAD_SPACES[case]
    path = tmp_path / "space.yaml"
    path.write_text(text)
    one_line_error(load_space, path, what, fix)


def test_shipped_space_fits_the_quickstart_suite():
    root = Path(__file__).resolve().parents[1]
    space = load_space(root / "suites" / "tune_quickstart.yaml")
    assert {d.name for d in space.dimensions} == {"lr", "weight_decay", "momentum", "batch_size"}
    suite = load_suite(root / "suites" / "quickstart.yaml")
    specs = study_specs(suite, "fts")
    assert len(specs) == 4 * 2  # sparsities × warm-ups
    for spec in specs:
        space.check(spec, "s")
        assert spec.seed == 0 and spec.ablation == "none"


def test_a_journal_in_a_missing_folder_is_one_line(tmp_path, capsys):
    suite, space = write_files(tmp_path, {"lr": {"low": 0.01, "high": 0.5}})
    code = main(["tune", str(suite), "--method", "magnitude", "--space", str(space),
                 "--storage", f"journal:{tmp_path / 'missing' / 'optuna.log'}",
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err


def test_tuning_where_every_trial_fails_exits_1(tmp_path, monkeypatch, capsys):
    import pai_bench.run

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the recipe")

    monkeypatch.setattr(pai_bench.run, "execute", broken)
    suite, space = write_files(tmp_path, {"lr": {"low": 0.01, "high": 0.5}})
    code = main(["tune", str(suite), "--method", "magnitude", "--space", str(space),
                 "--trials", "2", "--filter", "sparsity=0.5",
                 "--storage", f"sqlite:///{tmp_path / 'optuna.db'}",
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--device", "cpu"])
    assert code == 1
    trials = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{tmp_path / 'optuna.db'}"
                               ).trials
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
