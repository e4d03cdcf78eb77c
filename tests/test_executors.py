"""Executors: `--workers 2` and a local Ray cluster give every key exactly one FINISHED run, the
same metrics as the in-process loop (same seeds, same thread count), and survive a killed worker."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from pai_bench.claim import ATTEMPT_TAG, OWNER_TAG, RETRY_OF_TAG
from pai_bench.cli import main
from pai_bench.runner import plan
from pai_bench.suite import load_suite
from pai_bench.tracking import KEY_TAG, Tracker
from pai_bench.worker import WorkerConfig

SUITE = {
    "name": "exec",
    "grid": {"model": "tiny_cnn", "dataset": "digits", "method": ["magnitude", "snip"],
             "sparsity": [0.5, 0.9], "warmup_epochs": 1, "seed": 0},
    "datasets": {"digits": {"size": 8, "channels": 1}},
    "training": {"epochs": 2, "batch_size": 256, "lr": 0.05, "schedule": "constant"},
    "scoring": {"samples": 64, "batch_size": 64},
}
PLANNED = 2 * 2
TIMING = {"scoring_seconds", "scoring_peak_memory_mb"}  # measured, not computed


def write_suite(tmp_path: Path, **training) -> Path:
    path = tmp_path / "exec.yaml"
    path.write_text(yaml.safe_dump({**SUITE, "training": {**SUITE["training"], **training}}))
    return path


def finished_once(uri: str) -> dict[str, Counter]:
    by_key = Tracker("exec", tracking_uri=uri).runs_by_key()
    counts = {k: Counter(r.info.status for r in runs) for k, runs in by_key.items()}
    assert len(counts) == PLANNED
    assert all(c["FINISHED"] == 1 for c in counts.values()), counts
    return counts


def final_metrics(uri: str) -> dict[str, dict[str, float]]:
    return {r.data.tags[KEY_TAG]: {k: v for k, v in r.data.metrics.items() if k not in TIMING}
            for r in Tracker("exec", tracking_uri=uri).runs() if r.info.status == "FINISHED"}


def test_workers_2_finish_each_key_once_with_the_in_process_metrics(tmp_path, capsys):
    suite = write_suite(tmp_path)
    one, two = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    assert main(["run", str(suite), "--tracking-uri", one, "--threads", "1", "--device", "cpu",
                 "--no-progress"]) == 0
    assert main(["run", str(suite), "--tracking-uri", two, "--workers", "2", "--threads", "1",
                 "--device", "cpu", "--no-progress"]) == 0
    assert f"{PLANNED} finished, 0 failed" in capsys.readouterr().out
    finished_once(two)
    assert final_metrics(two) == final_metrics(one)
    threads = {r.data.tags["pai_bench.torch_threads"]
               for r in Tracker("exec", tracking_uri=two).runs()}
    assert threads == {"1"}
    # a second submission finds nothing to do
    assert main(["run", str(suite), "--tracking-uri", two, "--workers", "2",
                 "--no-progress"]) == 0
    assert f"{PLANNED} runs planned: {PLANNED} finished in the store, 0 to run" in (
        capsys.readouterr().out)


def kill_a_running_worker(uri: str, killed: list[int], stop: threading.Event) -> None:
    """Wait for a RUNNING run and SIGKILL the process its owner tag names (once)."""
    tracker = Tracker("exec", tracking_uri=uri)
    while not stop.is_set():
        running = [r for r in tracker.runs() if r.info.status == "RUNNING"
                   and r.data.tags.get(ATTEMPT_TAG)]  # past its claim: training
        if running and tracker.client.get_run(running[0].info.run_id).info.status == "RUNNING":
            pid = int(running[0].data.tags[OWNER_TAG].rpartition(":")[2])
            if pid != os.getpid():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.05)


def run_while_killing(uri: str, target) -> list[int]:
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=kill_a_running_worker, args=(uri, killed, stop))
    killer.start()
    try:
        target()
    finally:
        stop.set()
        killer.join()
    return killed


def assert_the_lost_run_was_retried(uri: str, killed: list[int]) -> None:
    counts = finished_once(uri)
    assert len(killed) == 1
    runs = Tracker("exec", tracking_uri=uri).runs()
    lost = [r for r in runs if r.data.tags.get(OWNER_TAG, "").endswith(f":{killed[0]}")
            and r.info.status == "FAILED"]
    assert len(lost) == 1 and lost[0].data.tags["pai_bench.error"].startswith("lost: ")
    retry = [r for r in runs if r.data.tags.get(RETRY_OF_TAG) == lost[0].info.run_id]
    assert len(retry) == 1 and retry[0].info.status == "FINISHED"
    assert retry[0].data.tags[ATTEMPT_TAG] == "2"
    assert sum(c["FAILED"] for c in counts.values()) == 1


def test_workers_2_survive_a_killed_worker(tmp_path):
    from pai_bench.local_pool import run_processes

    uri = f"sqlite:///{tmp_path / 'store.db'}"
    suite = load_suite(write_suite(tmp_path, epochs=15))
    the_plan = plan(suite.specs, Tracker("exec", tracking_uri=uri))
    summaries = []
    killed = run_while_killing(uri, lambda: summaries.append(run_processes(
        the_plan, WorkerConfig("exec", uri, device="cpu", threads=1), workers=2,
        progress=False)))
    assert summaries[0].finished == PLANNED and not summaries[0].failed
    assert_the_lost_run_was_retried(uri, killed)


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'pai-bench[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_gives_the_local_executors_metrics(tmp_path, ray_cluster, capsys):
    suite = write_suite(tmp_path)
    local, ray = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'ray.db'}"
    assert main(["run", str(suite), "--tracking-uri", local, "--threads", "1", "--device", "cpu",
                 "--no-progress"]) == 0
    assert main(["run", str(suite), "--tracking-uri", ray, "--executor", "ray",
                 "--no-progress"]) == 0
    assert f"{PLANNED} finished, 0 failed" in capsys.readouterr().out
    finished_once(ray)
    assert final_metrics(ray) == final_metrics(local)
    owners = {r.data.tags[OWNER_TAG] for r in Tracker("exec", tracking_uri=ray).runs()}
    assert all(not o.endswith(f":{os.getpid()}") for o in owners)  # ran in Ray's workers


def test_ray_retries_a_killed_worker_and_finishes_each_key_once(tmp_path, ray_cluster):
    from pai_bench.ray_executor import run_ray

    uri = f"sqlite:///{tmp_path / 'store.db'}"
    suite = load_suite(write_suite(tmp_path, epochs=15))
    the_plan = plan(suite.specs, Tracker("exec", tracking_uri=uri))
    summaries = []
    killed = run_while_killing(uri, lambda: summaries.append(run_ray(
        the_plan, WorkerConfig("exec", uri), max_retries=2, progress=False)))
    assert summaries[0].finished == PLANNED and not summaries[0].failed
    assert_the_lost_run_was_retried(uri, killed)


def test_ray_missing_says_how_to_install(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    store = tmp_path / "store.db"
    code = main(["run", str(write_suite(tmp_path)), "--executor", "ray", "--tracking-uri",
                 f"sqlite:///{store}"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'pai-bench[ray]'" in err and len(err.splitlines()) == 1
    assert not store.exists()


@pytest.mark.parametrize("flags, message", [
    (["--workers", "0"], "--workers 0"),
    (["--threads", "-1"], "--threads -1"),
    (["--gpus-per-run", "0.5"], "need --executor ray"),
    (["--executor", "ray", "--workers", "2"], "--workers is for --executor local"),
])
def test_bad_executor_flags_fail_before_any_run(tmp_path, capsys, flags, message):
    if "ray" in flags:
        pytest.importorskip("ray")
    store = tmp_path / "store.db"
    code = main(["run", str(write_suite(tmp_path)), "--tracking-uri", f"sqlite:///{store}",
                 *flags])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not store.exists()


def test_two_submitters_of_one_suite_run_each_key_once(tmp_path):
    """Two `pai-bench run` processes started together on one store: the claims split the keys."""
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path / 'store.db'}"
    suite = write_suite(tmp_path, epochs=20)
    Tracker("exec", tracking_uri=uri)  # the store exists before both start
    cmd = [sys.executable, "-m", "pai_bench", "run", str(suite), "--tracking-uri", uri,
           "--threads", "1", "--device", "cpu", "--no-progress"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    counts = finished_once(uri)
    assert all(set(c) == {"FINISHED"} for c in counts.values()), counts  # no run left behind
    owners = {r.data.tags[OWNER_TAG] for r in Tracker("exec", tracking_uri=uri).runs()}
    assert len(owners) == 2, "both submitters should have run some keys"
    assert sum("running in another process" in out for out in outs) >= 1, outs


def test_each_local_worker_gets_its_own_gpu(monkeypatch):
    import torch

    from pai_bench.local_pool import gpu_ids

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpu_ids("cuda", 4) == ["0", "1", "0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # a scheduler gave this job GPUs 2 and 3
    assert gpu_ids("cuda", 3) == ["2", "3", "2"]
    assert gpu_ids("cpu", 3) == [None, None, None]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert gpu_ids("cuda", 2) == [None, None]



def test_ctrl_c_with_workers_marks_the_runs_killed(tmp_path):
    """Ctrl-C reaches the parent and its workers: exit 130, every started run ends KILLED or
    FINISHED, none is left RUNNING."""
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path / 'store.db'}"
    suite = write_suite(tmp_path, epochs=40)
    Tracker("exec", tracking_uri=uri)
    cmd = [sys.executable, "-m", "pai_bench", "run", str(suite), "--tracking-uri", uri,
           "--workers", "2", "--threads", "1", "--device", "cpu", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    tracker = Tracker("exec", tracking_uri=uri)
    deadline = time.time() + 120
    while time.time() < deadline and not any(
            r.info.status == "RUNNING" and r.data.tags.get(ATTEMPT_TAG) for r in tracker.runs()):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, out
    statuses = Counter(r.info.status for r in tracker.runs())
    assert statuses["KILLED"] >= 1 and statuses["RUNNING"] == 0, statuses
