"""`pai-bench run --executor ray`: each run is a Ray task with its own CPU / GPU share.

Tasks write to the shared tracking store themselves (an MLflow server on a cluster); the driver
only submits and counts. Ray retries a task whose worker died (`--max-retries`); the retry carries
the same task id, so its claim marks the lost attempt FAILED and records itself as the next attempt
(tags `pai_bench.attempt`, `pai_bench.retry_of`). The claim also keeps two drivers submitting the
same suite from running a key twice.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from tqdm.auto import tqdm

from pai_bench.claim import TASK_TAG
from pai_bench.errors import ConfigError
from pai_bench.runner import Plan, Summary, task_ids
from pai_bench.spec import RunSpec
from pai_bench.tracking import Tracker
from pai_bench.worker import Outcome, Worker, WorkerConfig

INSTALL_HINT = "--executor ray needs Ray: pip install 'pai-bench[ray]'"

_workers: dict[WorkerConfig, Worker] = {}  # one per Ray worker process and config


def _run_task(config: WorkerConfig, spec: RunSpec, task: str) -> Outcome:
    """The Ray task: reuse this process's worker while Ray reuses the process (data sets stay
    loaded between CPU tasks; Ray may start a fresh process for each GPU task)."""
    if config not in _workers:
        _workers[config] = Worker(config)
    try:
        return _workers[config].run(spec, task)
    except KeyboardInterrupt:  # ray.cancel: the run is already marked KILLED
        return Outcome(spec.key, "killed")


def _mark_lost(config: WorkerConfig, task: str, error: str) -> None:
    """The last attempt of a task Ray gave up on is left RUNNING by its dead worker: fail it."""
    tracker = Tracker(config.suite, tracking_uri=config.tracking_uri)
    running = f"tags.`{TASK_TAG}` = '{task}' and attributes.status = 'RUNNING'"
    for spec_run in tracker.client.search_runs([tracker.experiment_id], running):
        tracker.client.set_tag(spec_run.info.run_id, "pai_bench.error",
                               f"lost: Ray gave up on this task ({error[:200]})")
        tracker.client.set_terminated(spec_run.info.run_id, "FAILED")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return ray


def run_ray(the_plan: Plan, config: WorkerConfig, *, address: str | None = None,
            cpus_per_run: float = 1, gpus_per_run: float = 0, max_retries: int = 3,
            num_cpus: int | None = None, progress: bool = True) -> Summary:
    """Submit the plan's to-do specs as Ray tasks and wait for them.

    `address`: None starts a local Ray instance (`num_cpus` of them), "auto" joins the running
    cluster, "ray://host:10001" connects through Ray Client.
    """
    ray = import_ray()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None and num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        try:
            ray.init(address=address, **kwargs)
        except Exception as exc:  # Ray raises several types for a bad or missing cluster
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ConfigError(
                f"--address {address}: cannot start or reach Ray ({reason}) — start a cluster "
                "with `ray start --head`, or leave --address out for a local Ray") from None
    config = replace(config, threads=max(1, math.floor(cpus_per_run)),
                     device="cuda" if gpus_per_run > 0 else "cpu")
    remote = ray.remote(_run_task).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run,
                                           max_retries=max_retries, retry_exceptions=False)
    tasks = task_ids(the_plan.todo)
    refs = {remote.remote(config, spec, tasks[spec.key]): spec for spec in the_plan.todo}
    summary = Summary(skipped=len(the_plan.done))
    bar = tqdm(total=len(refs), desc=f"{config.suite} (ray)", unit="run", disable=not progress)
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                spec = refs.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as exc:  # out of retries, or the task crashed
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    outcome = Outcome(spec.key, "failed", f"{type(exc).__name__}: {first}")
                    _mark_lost(config, tasks[spec.key], outcome.detail or "")
                summary.record(spec, outcome, bar)
    except KeyboardInterrupt:
        summary.interrupted = True
        for ref in refs:
            ray.cancel(ref)  # KeyboardInterrupt in the task: its run is marked KILLED
        ray.wait(list(refs), num_returns=len(refs), timeout=30)
    finally:
        bar.close()
    return summary
