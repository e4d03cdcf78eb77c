"""MLflow tracking: the store is the one source of truth about which runs are finished.

One experiment per suite. Each run carries its run key as the tag `pai_bench.run_key`, the flattened
spec as params, per-epoch metrics (step = epoch), final metrics, and the per-layer densities and
resolved spec as artifacts. The store is MLflow's own default (an embedded store in the working
directory) unless `MLFLOW_TRACKING_URI` or an explicit URI points elsewhere.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import platform
import subprocess
import time
import traceback
from collections import defaultdict
from pathlib import Path

import mlflow
import torch
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, Run, RunTag, ViewType
from mlflow.exceptions import MlflowException

from pai_bench.errors import ConfigError
from pai_bench.run import RunResult
from pai_bench.spec import RunSpec
from pai_bench.store_lock import first_open_lock, local_store

KEY_TAG = "pai_bench.run_key"
PACKAGES = ("pai-bench", "torch", "torchvision", "timm", "mlflow", "numpy")


@functools.cache
def git_commit() -> str:
    """The commit of the working directory's checkout, "+dirty" if it has changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.cache
def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()}"


def experiment_id(client: MlflowClient, name: str) -> str:
    """The id of experiment `name`, created if missing (by whichever process comes first)."""
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name)
        except MlflowException:  # another process created it first
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage != "active":
        raise ConfigError(f"MLflow experiment '{name}' is deleted — restore it "
                          "(mlflow experiments restore) or delete it for good (mlflow gc)")
    return found.experiment_id


class Tracker:
    """An MLflow experiment, read and written through `MlflowClient` (no global active run)."""

    def __init__(self, experiment: str, *, tracking_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri or mlflow.get_tracking_uri()
        self.experiment = experiment
        with first_open_lock(self.tracking_uri):  # two processes may create the store at once
            self.client = MlflowClient(self.tracking_uri)
            self.experiment_id = experiment_id(self.client, experiment)

    def runs(self) -> list[Run]:
        """Every run of the experiment (all pages)."""
        out: list[Run] = []
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], run_view_type=ViewType.ACTIVE_ONLY,
                                           max_results=1000, page_token=token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    def runs_by_key(self) -> dict[str, list[Run]]:
        by_key: dict[str, list[Run]] = defaultdict(list)
        for run in self.runs():
            key = run.data.tags.get(KEY_TAG)
            if key:
                by_key[key].append(run)
        return by_key

    def runs_of_key(self, key: str) -> list[Run]:
        """The experiment's runs of one run key, read fresh from the store."""
        return self.client.search_runs([self.experiment_id], f"tags.`{KEY_TAG}` = '{key}'",
                                       run_view_type=ViewType.ACTIVE_ONLY, max_results=1000)

    def finished_keys(self) -> set[str]:
        return {k for k, runs in self.runs_by_key().items()
                if any(r.info.status == "FINISHED" for r in runs)}

    def start(self, spec: RunSpec, *, suite: str, device: torch.device,
              extra_tags: dict[str, str] | None = None) -> TrackedRun:
        tags = {
            KEY_TAG: spec.key,
            "pai_bench.suite": suite,
            "pai_bench.git_commit": git_commit(),
            "pai_bench.device": describe_device(device),
            **{f"pai_bench.{k}": str(v) for k, v in spec.axes().items()},
            **{f"version.{k}": v for k, v in package_versions().items()},
            **(extra_tags or {}),
        }
        name = (f"{spec.model}-{spec.dataset}-{spec.method}-s{spec.sparsity}"
                f"-w{spec.warmup_epochs}-seed{spec.seed}")
        run = self.client.create_run(self.experiment_id, tags=tags, run_name=name)
        tracked = TrackedRun(self.client, run.info.run_id)
        params = [Param(k, json.dumps(v) if isinstance(v, (list, dict)) else str(v))
                  for k, v in spec.flat().items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params a call
            self.client.log_batch(run.info.run_id, params=params[i : i + 100])
        self.client.log_dict(run.info.run_id, spec.to_dict(), "spec.json")
        return tracked


class TrackedRun:
    """One MLflow run being written."""

    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, epoch)
                                                    for k, v in metrics.items()])

    def finish(self, result: RunResult, extra_tags: dict[str, str] | None = None) -> None:
        now = int(time.time() * 1000)
        tags = [RunTag(k, v) for k, v in (extra_tags or {}).items()]
        tags += [RunTag(f"method_option.{k}", str(v)) for k, v in result.method_options.items()]
        self.client.log_batch(self.run_id, tags=tags,
                              metrics=[Metric(k, float(v), now, 0)
                                       for k, v in result.metrics.items()])
        if result.layers:
            self.client.log_dict(self.run_id, {
                "layers": [{"name": d.name, "kept": d.kept, "total": d.total,
                            "density": d.density, "collapsed": d.collapsed,
                            "effective_kept": result.effective_kept.get(d.name)}
                           for d in result.layers]}, "layer_densities.json")
        self.client.set_terminated(self.run_id, "FINISHED")

    def fail(self, error: BaseException, status: str = "FAILED") -> None:
        """Record the error (one line as a tag, the traceback as an artifact) and the status."""
        message = f"{type(error).__name__}: {error}".splitlines()[0][:4000]
        self.client.set_tag(self.run_id, "pai_bench.error", message)
        trace = "".join(traceback.format_exception(error))
        self.client.log_text(self.run_id, trace, "error.txt")
        self.client.set_terminated(self.run_id, status)


def absolute_uri(uri: str) -> str:
    """A store on this machine (`local_store`) named by its absolute path, so that processes
    with another working directory find the same one; a server's URI as it is."""
    path = local_store(uri)
    if path is None:
        return uri
    if uri.startswith("sqlite:///"):
        _, sep, query = uri.partition("?")
        return f"sqlite:///{path}{sep}{query}"
    return f"file://{path}" if uri.startswith("file://") else str(path)


def store_path_hint(uri: str) -> str:
    """A short form of the tracking URI for messages."""
    return str(Path(uri.removeprefix("sqlite:///"))) if uri.startswith("sqlite:///") else uri
