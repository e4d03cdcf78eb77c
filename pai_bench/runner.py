"""Executing a suite's runs: skip what the store says is finished, isolate failures, show progress.

A failing run (an exception, a NaN loss) is recorded as FAILED with its error and the suite goes on;
Ctrl-C records the current run as KILLED and stops cleanly; a SIGKILL loses nothing, since every run
is marked FINISHED in the store only once its results are written, and a rerun skips those.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from pai_bench.data import ImageData, load_dataset
from pai_bench.run import execute
from pai_bench.score_cache import ScoreCache
from pai_bench.spec import RunSpec
from pai_bench.tracking import Tracker

AXES = ("model", "dataset", "method", "sparsity", "warmup_epochs", "seed", "ablation")


@dataclass
class Plan:
    """The suite's runs split by what the store already holds."""

    specs: list[RunSpec]
    finished: set[str]

    @property
    def done(self) -> list[RunSpec]:
        return [s for s in self.specs if s.key in self.finished]

    @property
    def todo(self) -> list[RunSpec]:
        return [s for s in self.specs if s.key not in self.finished]

    def describe(self) -> str:
        """Counts by axis, and how many runs are done and still to run."""
        lines = [f"{len(self.specs)} runs planned: {len(self.done)} finished in the store, "
                 f"{len(self.todo)} to run"]
        for axis in AXES:
            total = Counter(str(s.axes()[axis]) for s in self.specs)
            if axis == "ablation" and set(total) == {"none"}:
                continue  # the axis is not in use
            todo = Counter(str(s.axes()[axis]) for s in self.todo)
            cells = ", ".join(f"{v} {todo[v]}/{n}" for v, n in total.items())
            lines.append(f"  {axis:<13} (to run/planned) {cells}")
        return "\n".join(lines)


def plan(specs: Sequence[RunSpec], tracker: Tracker) -> Plan:
    unique = list({s.key: s for s in specs}.values())  # one run per key
    return Plan(unique, tracker.finished_keys())


@dataclass
class Summary:
    finished: int = 0
    skipped: int = 0
    failed: list[tuple[RunSpec, str]] = field(default_factory=list)
    interrupted: bool = False
    reused_scores: int = 0

    def describe(self) -> str:
        text = (f"{self.finished} finished, {len(self.failed)} failed, "
                f"{self.skipped} already finished (skipped)")
        if self.reused_scores:
            text += (f"; {self.reused_scores} runs masked scores computed by an earlier run of "
                     "the suite (tag pai_bench.scores_reused_from)")
        if self.interrupted:
            text += "; interrupted: the current run is marked KILLED, rerun to continue"
        for spec, error in self.failed:
            text += f"\n  FAILED {spec.key} {spec.axes()}: {error}"
        return text


class Runner:
    """Runs specs one after another on one device, logging each to the tracker."""

    def __init__(self, tracker: Tracker, *, suite: str, device: torch.device | str,
                 data_dir: Path | None = None, progress: bool = True) -> None:
        self.tracker = tracker
        self.suite = suite
        self.device = torch.device(device)
        self.data_dir = data_dir
        self.progress = progress
        self._data: dict[tuple, ImageData] = {}
        self.scores = ScoreCache()

    def data(self, spec: RunSpec) -> ImageData:
        """Each data set is loaded once per process."""
        key = (spec.dataset, spec.dataset_options)
        if key not in self._data:
            self._data[key] = load_dataset(spec.dataset, root=self.data_dir,
                                           **dict(spec.dataset_options))
        return self._data[key]

    def run(self, the_plan: Plan) -> Summary:
        summary = Summary(skipped=len(the_plan.done))
        todo = the_plan.todo
        bar = tqdm(total=len(todo), desc=self.suite, unit="run", disable=not self.progress)
        try:
            for spec in todo:
                bar.set_postfix_str(f"{spec.method} s={spec.sparsity} w={spec.warmup_epochs} "
                                    f"seed={spec.seed}")
                error, reused = self.run_one(spec)
                summary.reused_scores += reused
                if error is None:
                    summary.finished += 1
                else:
                    summary.failed.append((spec, error))
                    bar.write(f"FAILED {spec.key} {spec.axes()}: {error}")
                bar.update()
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            bar.close()
        return summary

    def run_one(self, spec: RunSpec) -> tuple[str | None, bool]:
        """Run and log one spec; returns None or the one-line error it failed with, and whether
        it reused scores. KeyboardInterrupt marks the run KILLED and propagates."""
        tracked = self.tracker.start(spec, suite=self.suite, device=self.device)
        epochs = tqdm(total=spec.training.epochs, desc=spec.key, unit="epoch", leave=False,
                      disable=not self.progress)

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            tracked.log_epoch(epoch, metrics)
            epochs.set_postfix(test_acc=f"{metrics['test_acc']:.4f}")
            epochs.update()

        try:
            result = execute(spec, self.data(spec), device=self.device, on_epoch=on_epoch,
                             score_cache=self.scores)
            reused = result.scores_reused_from
            tracked.finish(result, {"pai_bench.scores_reused_from": reused} if reused else None)
            return None, reused is not None
        except KeyboardInterrupt as exc:
            tracked.fail(exc, status="KILLED")
            raise
        except Exception as exc:  # a failing run must not stop the suite
            tracked.fail(exc)
            return f"{type(exc).__name__}: {exc}".splitlines()[0], False
        finally:
            epochs.close()
