"""What one process does with a run key it is given: claim it, execute it, record the outcome.

Every executor runs specs through a `Worker` (the local loop in-process, `--workers N` in child
processes, Ray in its tasks), so claiming, logging and failure isolation are written once. A worker
loads each data set once per process and reuses one-shot scores across its runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from tqdm.auto import tqdm

from pai_bench.claim import Lease, claim, other_finished
from pai_bench.data import ImageData, load_dataset
from pai_bench.run import execute
from pai_bench.score_cache import ScoreCache
from pai_bench.spec import RunSpec
from pai_bench.store_lock import key_lock
from pai_bench.tracking import TrackedRun, Tracker

Status = Literal["finished", "failed", "killed", "skipped"]


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker process needs, picklable: it travels to child processes and Ray."""

    suite: str
    tracking_uri: str
    device: str = "cpu"
    data_dir: Path | None = None
    threads: int | None = None  # torch intra-op threads (results depend on it on CPU)
    lease: Lease = Lease()


@dataclass(frozen=True)
class Outcome:
    key: str
    status: Status
    detail: str | None = None  # the one-line error, or why the key was skipped
    reused_scores: bool = False


class Worker:
    def __init__(self, config: WorkerConfig, *, progress: bool = False) -> None:
        if config.threads:
            torch.set_num_threads(config.threads)
        self.config = config
        self.device = torch.device(config.device)
        self.tracker = Tracker(config.suite, tracking_uri=config.tracking_uri)
        self.progress = progress
        self.scores = ScoreCache()
        self._data: dict[tuple, ImageData] = {}

    def data(self, spec: RunSpec) -> ImageData:
        """Each data set is loaded once per process."""
        key = (spec.dataset, spec.dataset_options)
        if key not in self._data:
            self._data[key] = load_dataset(spec.dataset, root=self.config.data_dir,
                                           **dict(spec.dataset_options))
        return self._data[key]

    def run(self, spec: RunSpec, task: str) -> Outcome:
        """Claim, run and log `spec`. Exceptions become a FAILED run and a "failed" outcome;
        KeyboardInterrupt marks the run KILLED and propagates."""
        claimed = claim(self.tracker, spec, suite=self.config.suite, device=self.device,
                        task=task, lease=self.config.lease,
                        extra_tags={"pai_bench.torch_threads": str(torch.get_num_threads())})
        if isinstance(claimed, str):
            return Outcome(spec.key, "skipped", claimed)
        try:
            return self._execute(spec, claimed.tracked)
        except KeyboardInterrupt as exc:
            claimed.tracked.fail(exc, status="KILLED")
            raise
        except Exception as exc:  # a failing run must not stop the suite
            claimed.tracked.fail(exc)
            return Outcome(spec.key, "failed", f"{type(exc).__name__}: {exc}".splitlines()[0])
        finally:
            claimed.stop()

    def _execute(self, spec: RunSpec, tracked: TrackedRun) -> Outcome:
        """Execute a claimed spec, logging every epoch, and finish its run once."""
        epochs = tqdm(total=spec.training.epochs, desc=spec.key, unit="epoch", leave=False,
                      disable=not self.progress)

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            tracked.log_epoch(epoch, metrics)
            epochs.set_postfix(test_acc=f"{metrics['test_acc']:.4f}")
            epochs.update()

        try:
            result = execute(spec, self.data(spec), device=self.device, on_epoch=on_epoch,
                             score_cache=self.scores)
        finally:
            epochs.close()
        reused = result.scores_reused_from
        tags = {"pai_bench.scores_reused_from": reused} if reused else {}
        with key_lock(self.tracker.tracking_uri, spec.key):  # check and finish at once
            duplicate = other_finished(self.tracker, spec, tracked.run_id)
            if duplicate:  # a lease expired under a live run, or a server race: keep one
                tracked.fail(RuntimeError(f"duplicate of finished run {duplicate}"), "KILLED")
                return Outcome(spec.key, "skipped", f"finished meanwhile by run {duplicate}")
            tracked.finish(result, tags)
        return Outcome(spec.key, "finished", reused_scores=reused is not None)
