"""`pai-bench run`: every run FINISHED in the store with its metrics, reruns execute nothing,
a SIGKILL loses nothing, a failing run is recorded and the suite goes on, Ctrl-C marks KILLED,
and a bad suite stops everything before any run starts."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from torch import Tensor

from pai_bench import runner as runner_module
from pai_bench import worker as worker_module
from pai_bench.cli import main
from pai_bench.method import METHODS, Method, ScoringContext
from pai_bench.suite import load_suite
from pai_bench.tracking import KEY_TAG, Tracker
from pai_bench.worker import WorkerConfig

SUITE = {
    "name": "tiny",
    "grid": {"model": "tiny_cnn", "dataset": "digits", "method": ["magnitude", "snip"],
             "sparsity": [0.5, 0.9], "warmup_epochs": [0, 1], "seed": 0},
    "datasets": {"digits": {"size": 8, "channels": 1}},
    "training": {"epochs": 2, "batch_size": 256, "lr": 0.05, "schedule": "constant"},
    "scoring": {"samples": 64, "batch_size": 64},
    "dense_baseline": True,
}
PLANNED = 2 * 2 * 2 + 1


def write_suite(tmp_path: Path, **changes) -> Path:
    data = {**SUITE, **changes}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def statuses(uri: str, experiment: str = "tiny") -> dict[str, list[str]]:
    by_key = Tracker(experiment, tracking_uri=uri).runs_by_key()
    return {k: [r.info.status for r in runs] for k, runs in by_key.items()}


def test_suite_runs_logs_and_resumes(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    suite = write_suite(tmp_path)
    assert main(["run", str(suite), "--tracking-uri", uri, "--dry-run"]) == 0
    assert f"{PLANNED} runs planned: 0 finished in the store, {PLANNED} to run" in (
        capsys.readouterr().out)

    assert main(["run", str(suite), "--tracking-uri", uri, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"{PLANNED} finished, 0 failed" in out
    assert "4 runs masked scores computed by an earlier run of the suite" in out
    tracker = Tracker("tiny", tracking_uri=uri)
    runs = tracker.runs()
    assert len(runs) == PLANNED and all(r.info.status == "FINISHED" for r in runs)
    for run in runs:
        metrics, tags = run.data.metrics, run.data.tags
        assert {"final_test_acc", "best_val_test_acc", "final_test_top5", "test_acc",
                "train_loss"} <= set(metrics)
        assert tags["pai_bench.suite"] == "tiny" and tags[KEY_TAG] and tags["pai_bench.device"]
        assert "version.torch" in tags and "pai_bench.git_commit" in tags
        assert run.data.params["training.epochs"] == "2"
        if tags["pai_bench.method"] != "dense":
            assert metrics["achieved_sparsity"] == pytest.approx(
                float(tags["pai_bench.sparsity"]), abs=1e-3)
            assert metrics["revived_weights"] == 0 and "collapsed_layers" in metrics
            assert "scoring_seconds" in metrics and "scoring_peak_memory_mb" in metrics
            assert metrics["effective_sparsity"] >= metrics["achieved_sparsity"]
    # scores computed once per (method, warm-up, seed) and reused at the second sparsity
    reused = [r for r in runs if "pai_bench.scores_reused_from" in r.data.tags]
    assert sorted((r.data.tags["pai_bench.sparsity"], r.data.tags["pai_bench.method"])
                  for r in reused) == [("0.9", "magnitude")] * 2 + [("0.9", "snip")] * 2
    history = tracker.client.get_metric_history(runs[0].info.run_id, "test_acc")
    assert sorted(m.step for m in history) == [0, 1]
    artifacts = {a.path for a in tracker.client.list_artifacts(runs[-1].info.run_id)}
    assert "spec.json" in artifacts

    # a second run executes nothing
    assert main(["run", str(suite), "--tracking-uri", uri, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"{PLANNED} runs planned: {PLANNED} finished in the store, 0 to run" in out
    assert len(Tracker("tiny", tracking_uri=uri).runs()) == PLANNED


def finished_count(db: Path) -> int:
    """Read the store with sqlite3 alone: opening it with MLflow while the run's process is
    creating its tables would race with that creation."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM runs WHERE status = 'FINISHED'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_sigkill_loses_nothing(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    suite = write_suite(tmp_path)
    cmd = [sys.executable, "-m", "pai_bench", "run", str(suite), "--tracking-uri", uri,
           "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:  # kill once some, but not all, runs are finished
            time.sleep(0.5)
            if finished_count(tmp_path / "store.db") >= 2:
                break
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    before = statuses(uri)
    finished_before = {k for k, s in before.items() if "FINISHED" in s}
    assert 2 <= len(finished_before) < PLANNED

    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    after = statuses(uri)
    assert len(after) == PLANNED
    assert all(Counter(s)["FINISHED"] == 1 for s in after.values()), after
    assert finished_before <= {k for k, s in after.items() if "FINISHED" in s}


class Explode(Method):
    """A method that fails at high sparsity, to test failure isolation."""

    needs_data = False

    def score(self, ctx: ScoringContext) -> dict[str, Tensor]:
        raise RuntimeError("boom")


@pytest.fixture
def explode(monkeypatch):
    METHODS.names()
    monkeypatch.setitem(METHODS._items, "explode", Explode)


def test_failed_run_is_recorded_and_suite_goes_on(tmp_path, capsys, explode):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    suite = write_suite(tmp_path, grid={**SUITE["grid"], "method": ["magnitude", "explode"]})
    assert main(["run", str(suite), "--tracking-uri", uri, "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert f"{PLANNED - 4} finished, 4 failed" in out and "RuntimeError: boom" in out
    runs = Tracker("tiny", tracking_uri=uri).runs()
    failed = [r for r in runs if r.info.status == "FAILED"]
    assert len(failed) == 4 and all(r.data.tags["pai_bench.method"] == "explode" for r in failed)
    assert all(r.data.tags["pai_bench.error"] == "RuntimeError: boom" for r in failed)
    # a rerun retries only the failed ones (and they fail again)
    assert main(["run", str(suite), "--tracking-uri", uri, "--no-progress"]) == 1
    assert "4 to run" in capsys.readouterr().out


def test_ctrl_c_marks_killed_and_stops(tmp_path, monkeypatch, capsys):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    suite = load_suite(write_suite(tmp_path))
    real_execute = worker_module.execute
    calls = []

    def interrupted_on_third(spec, data, **kwargs):
        calls.append(spec.key)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_execute(spec, data, **kwargs)

    monkeypatch.setattr(worker_module, "execute", interrupted_on_third)
    tracker = Tracker("tiny", tracking_uri=uri)
    runner = runner_module.Runner(WorkerConfig("tiny", uri), progress=False)
    summary = runner.run(runner_module.plan(suite.specs, tracker))
    assert summary.interrupted and summary.finished == 2 and len(calls) == 3
    assert sorted(Counter(s[0] for s in statuses(uri).values()).items()) == [
        ("FINISHED", 2), ("KILLED", 1)]


BAD_SUITES = {
    "broken yaml": "name: tiny\ngrid: [unclosed\n",
    "unknown key": {**SUITE, "trainig": {"epochs": 2}},
    "sparsity 1.0": {**SUITE, "grid": {**SUITE["grid"], "sparsity": [0.5, 1.0]}},
    "unknown method": {**SUITE, "grid": {**SUITE["grid"], "method": ["snipp"]}},
    "empty grid axis": {**SUITE, "grid": {**SUITE["grid"], "seed": []}},
    "negative epochs": {**SUITE, "training": {**SUITE["training"], "epochs": -2}},
    "warm-up >= epochs": {**SUITE, "grid": {**SUITE["grid"], "warmup_epochs": [0, 2]}},
    "wrong type": {**SUITE, "training": {**SUITE["training"], "lr": "fast"}},
    "unknown model": {**SUITE, "grid": {**SUITE["grid"], "model": "resnet19"}},
    "bad method option": {**SUITE, "methods": {"snip": {"mask_batch": 2}}},
    "unknown dataset": {**SUITE, "grid": {**SUITE["grid"], "dataset": "cifar11"}},
}


@pytest.mark.parametrize("case", list(BAD_SUITES))
def test_bad_suite_fails_before_any_run(case, tmp_path, capsys):
    content = BAD_SUITES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    store = tmp_path / "store.db"
    code = main(["run", str(path), "--tracking-uri", f"sqlite:///{store}", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and str(path) in err, err
    assert not store.exists()  # nothing ran, nothing was even opened
