"""Executing a suite's runs: skip what the store says is finished, isolate failures, show progress.

A failing run (an exception, a NaN loss) is recorded as FAILED with its error and the suite goes on;
Ctrl-C records the current run as KILLED and stops cleanly; a SIGKILL loses nothing, since every run
is marked FINISHED in the store only once its results are written, and a rerun skips those.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from pai_bench.spec import RunSpec
from pai_bench.tracking import Tracker
from pai_bench.worker import Outcome, Worker, WorkerConfig

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
    elsewhere: list[tuple[RunSpec, str]] = field(default_factory=list)  # another process had it

    def record(self, spec: RunSpec, outcome: Outcome, bar: tqdm | None = None) -> None:
        """Count an outcome, and advance `bar` (a failure is shown on it at once)."""
        if outcome.status == "finished":
            self.finished += 1
            self.reused_scores += outcome.reused_scores
        elif outcome.status == "skipped":
            self.elsewhere.append((spec, outcome.detail or ""))
        elif outcome.status == "killed":
            self.interrupted = True
        else:
            self.failed.append((spec, outcome.detail or "unknown error"))
            if bar is not None:
                bar.write(f"FAILED {spec.key} {spec.axes()}: {outcome.detail}")
        if bar is not None:
            bar.update()

    def describe(self) -> str:
        text = (f"{self.finished} finished, {len(self.failed)} failed, "
                f"{self.skipped} already finished (skipped)")
        if self.elsewhere:
            text += f", {len(self.elsewhere)} finished or running in another process (skipped)"
        if self.reused_scores:
            text += (f"; {self.reused_scores} runs masked scores computed by an earlier run of "
                     "the suite (tag pai_bench.scores_reused_from)")
        if self.interrupted:
            text += "; interrupted: the current run is marked KILLED, rerun to continue"
        for spec, error in self.failed:
            text += f"\n  FAILED {spec.key} {spec.axes()}: {error}"
        return text


def task_ids(specs: Sequence[RunSpec]) -> dict[str, str]:
    """One id per key for this submission; an executor's retries of a key reuse it."""
    submission = uuid.uuid4().hex[:12]
    return {s.key: f"{submission}/{s.key}" for s in specs}


class Runner:
    """Runs specs one after another in this process, on one device."""

    def __init__(self, config: WorkerConfig, *, progress: bool = True) -> None:
        self.config = config
        self.worker = Worker(config, progress=progress)
        self.progress = progress

    def run(self, the_plan: Plan) -> Summary:
        summary = Summary(skipped=len(the_plan.done))
        todo = the_plan.todo
        tasks = task_ids(todo)
        bar = tqdm(total=len(todo), desc=self.config.suite, unit="run",
                   disable=not self.progress)
        try:
            for spec in todo:
                bar.set_postfix_str(f"{spec.method} s={spec.sparsity} w={spec.warmup_epochs} "
                                    f"seed={spec.seed}")
                summary.record(spec, self.worker.run(spec, tasks[spec.key]), bar)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            bar.close()
        return summary
