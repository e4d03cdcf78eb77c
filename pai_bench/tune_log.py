"""The MLflow record of `pai-bench tune`, experiment ``<suite>-tune``: one parent run per study
(tag ``pai_bench.study``), shared by every process that tunes it, and one child run per trial
(params ``sampled.<field>`` and the spec's flat params, per-epoch metrics, tags
``pai_bench.trial_number`` and ``pai_bench.trial_state``: COMPLETE, PRUNED or FAIL).
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from pai_bench.spec import RunSpec
from pai_bench.suite import _one_line

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient
    from mlflow.entities import Run

__all__ = ["StudyLog", "open_experiment"]

def open_experiment(uri: str, name: str) -> tuple[MlflowClient, str]:
    """A client of the store at `uri` and the id of its experiment `name` (created if missing)."""
    from pai_bench.tracking import Tracker

    tracker = Tracker(name, tracking_uri=uri)
    return tracker.client, tracker.experiment_id


def _params(values: dict[str, Any]) -> list[Any]:
    from mlflow.entities import Param

    return [Param(k, json.dumps(v) if isinstance(v, (list, dict)) else str(v))
            for k, v in values.items()]


class StudyLog:
    """The MLflow side of one study: its parent run, shared by every process that tunes it, and
    one child run per trial."""

    def __init__(self, client: MlflowClient, experiment_id: str, study: str, spec: RunSpec,
                 tags: dict[str, str]) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.study = study
        self.spec = spec
        self.tags = {"pai_bench.study": study, **{f"pai_bench.{k}": str(v)
                                                  for k, v in spec.axes().items()}, **tags}
        self._created: set[str] = set()

    def _parents(self) -> list[Run]:
        from mlflow.entities import ViewType

        runs = self.client.search_runs(
            [self.experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=100,
            filter_string=f"tags.`pai_bench.study` = '{self.study}' "
                          "and tags.`pai_bench.role` = 'study'")
        return sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))

    def _children(self, parent: str) -> list[Run]:
        return self.client.search_runs([self.experiment_id], max_results=10_000,
                                       filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")

    def parent(self) -> str:
        """The study's parent run id: found by its tag, else created; of two created in a race,
        the earliest wins and this process deletes its own if no trial went under it yet."""
        runs = self._parents()
        if not runs:
            run = self.client.create_run(self.experiment_id, run_name=self.study,
                                         tags={**self.tags, "pai_bench.role": "study"})
            self._created.add(run.info.run_id)
            self.client.log_batch(run.info.run_id, params=_params(self.spec.flat())[:100])
            runs = self._parents()
        chosen = runs[0].info.run_id
        for run in runs[1:]:
            rid = run.info.run_id
            if rid in self._created and not self._children(rid):
                self.client.delete_run(rid)
                self._created.discard(rid)
        return chosen

    def start(self, trial: optuna.Trial, values: dict[str, Any], spec: RunSpec) -> str:
        """A child run for `trial` with its sampled values and the spec it runs; its id."""
        tags = {**self.tags, "mlflow.parentRunId": self.parent(), "pai_bench.role": "trial",
                "pai_bench.trial_number": str(trial.number), "pai_bench.spec_key": spec.key}
        run = self.client.create_run(self.experiment_id, run_name=f"trial-{trial.number}",
                                     tags=tags)
        params = _params({f"sampled.{k}": v for k, v in values.items()} | spec.flat())
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params a call
            self.client.log_batch(run.info.run_id, params=params[i : i + 100])
        return run.info.run_id

    def epoch(self, run_id: str, epoch: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, epoch)
                                               for k, v in metrics.items()])

    def end(self, run_id: str, state: str, *, value: float | None = None,
            error: BaseException | None = None, epoch: int | None = None) -> None:
        """Tag the trial's state (COMPLETE, PRUNED, FAIL) and close its run: FINISHED for a
        complete or pruned trial, FAILED for an error, KILLED for Ctrl-C."""
        self.client.set_tag(run_id, "pai_bench.trial_state", state)
        if value is not None:
            self.client.log_metric(run_id, "best_val_acc", value)
        if state == "PRUNED" and epoch is not None:
            self.client.set_tag(run_id, "pai_bench.pruned_at_epoch", str(epoch))
        if error is not None:
            message = f"{type(error).__name__}: {error}".splitlines()[0][:4000]
            self.client.set_tag(run_id, "pai_bench.error", message)
        status = ("KILLED" if isinstance(error, KeyboardInterrupt)
                  else "FAILED" if state == "FAIL" else "FINISHED")
        self.client.set_terminated(run_id, status)

    def summarize(self, study: optuna.Study) -> None:
        """The study so far on the parent run: trial counts, best value and values. Processes
        ending together may collide on the parent's tags: retried, then only a warning (the
        study and the override file do not depend on it)."""
        from mlflow.entities import Metric, RunTag
        from mlflow.exceptions import MlflowException
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        now, step = int(time.time() * 1000), len(trials)
        metrics = [Metric(f"trials_{state.name.lower()}", sum(t.state == state for t in trials),
                          now, step)
                   for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
        tags = []
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        if complete:
            best = max(complete, key=lambda t: t.value)
            metrics.append(Metric("best_val_acc", best.value, now, step))
            tags = [RunTag("pai_bench.best_trial", str(best.number)),
                    *(RunTag(f"best.{k}", str(v)) for k, v in best.params.items())]
        for attempt in range(3):
            try:
                parent = self.parent()
                self.client.log_batch(parent, metrics=metrics, tags=tags)
                self.client.set_terminated(parent, "FINISHED")
                return
            except MlflowException as exc:
                if attempt == 2:
                    print(f"pai-bench: warning: study {self.study}: summary not logged to MLflow "
                          f"({_one_line(exc)[:200]})", file=sys.stderr)
                time.sleep(0.5)
