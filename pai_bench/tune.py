"""`pai-bench tune`: tune a method's training options with Optuna, on the validation split only.

One study per (method, model, dataset, sparsity, warmup_epochs) of the suite's runs of
``--method`` (after ``--set`` and ``--filter``), named
``<suite>/<method>/<model>/<dataset>/s<sparsity>/w<warmup>`` in a shared storage (``--storage``:
an Optuna RDB URL, default ``sqlite:///optuna.db``, or ``journal:PATH`` for a journal file on a
shared file system), so that several processes, on one machine or many, add trials to the same
study. A trial samples the space file's training fields,
runs the spec for one seed with ``execute(..., evaluate_test=False)`` — the test split is never
read — reports the validation accuracy after every epoch to the pruner (median by default, which
stops trials below the median of earlier ones at the same epoch) and returns the best validation
accuracy over the sparse epochs.

MLflow, experiment ``<suite>-tune``: one parent run per study (tag ``pai_bench.study``; if two
processes created one at the same moment, the earliest is used), one child run per trial: params
``sampled.<field>`` and the spec's flat params, per-epoch metrics, tags ``pai_bench.trial_number``
and ``pai_bench.trial_state`` (COMPLETE, PRUNED or FAIL). The best values of every study go to an
override file (`pai_bench.overrides`) that ``pai-bench run SUITE --overrides FILE`` applies.

The space file names `spec.Training` fields, each a range or a list of choices::

    lr: {low: 0.01, high: 0.3, log: true}           # a float field: suggest_float
    epochs: {low: 2, high: 6, step: 1}              # an int field: suggest_int
    momentum: {choices: [0.8, 0.9]}                 # any field but milestones: suggest_categorical
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pai_bench.errors import ConfigError
from pai_bench.overrides import (
    Override,
    check_training_value,
    read_yaml_mapping,
    write_overrides,
)
from pai_bench.spec import RunSpec, Training
from pai_bench.suite import Suite, _did_you_mean, _one_line, load_suite

if TYPE_CHECKING:  # optuna, mlflow and torch load where used: `pai-bench --help` stays fast
    import optuna
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from pai_bench.data import ImageData

__all__ = [
    "Dimension",
    "Space",
    "StudyLog",
    "add_arguments",
    "cmd_tune",
    "load_data",
    "load_space",
    "make_objective",
    "open_storage",
    "open_study",
    "study_name",
    "study_specs",
]

STARTUP_TRIALS = 2  # complete trials before the median pruner stops any
_KINDS = {f.name: type(f.default) for f in dataclasses.fields(Training)}  # int, float, str, ...
_RANGE_KEYS = ("low", "high", "log", "step")
_SPACE_HINT = "see suites/tune_quickstart.yaml, e.g. lr: {low: 0.01, high: 0.3, log: true}"


# -------------------------------------------------------------------------------------- space


@dataclass(frozen=True)
class Dimension:
    """One tuned training field: a range (`low`..`high`, optionally `log` or `step`) or a list
    of `choices`."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if _KINDS[self.name] is int:
            return trial.suggest_int(self.name, int(self.low), int(self.high),
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)

    @property
    def smallest(self) -> Any:
        return min(self.choices) if self.choices is not None else self.low


@dataclass(frozen=True)
class Space:
    """The validated space file: the training fields a trial samples."""

    source: str
    dimensions: tuple[Dimension, ...]

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        return {d.name: d.suggest(trial) for d in self.dimensions}

    def check(self, spec: RunSpec, study: str) -> None:
        """Every sampled recipe leaves at least one sparse epoch after the spec's warm-up."""
        for d in self.dimensions:
            if d.name == "epochs" and d.smallest <= spec.warmup_epochs:
                at = "choices" if d.choices is not None else "low"
                raise ConfigError(
                    f"{self.source}: epochs.{at}: {d.smallest} epochs leave no sparse epoch after "
                    f"the {spec.warmup_epochs}-epoch warm-up of study {study} — use epochs of at "
                    f"least {spec.warmup_epochs + 1}"
                )

    def to_dict(self) -> dict[str, Any]:
        return {d.name: {k: v for k, v in dataclasses.asdict(d).items()
                         if k != "name" and v not in (None, False)} for d in self.dimensions}


def _number(source: str, loc: str, value: Any, kind: type) -> Any:
    ok = isinstance(value, int) if kind is int else isinstance(value, (int, float))
    if not ok or isinstance(value, bool):
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{source}: {loc}: must be {what} (got {_one_line(repr(value))}) — "
                          f"{loc.split('.')[0]} is {'an int' if kind is int else 'a float'} field")
    return value


def _dimension(source: str, name: str, raw: Any) -> Dimension:
    if name not in _KINDS:
        raise ConfigError(f"{source}: {name}: not a training field — "
                          f"{_did_you_mean(name, list(_KINDS))}training fields: "
                          f"{', '.join(_KINDS)}")
    if name == "milestones":
        raise ConfigError(f"{source}: milestones: a list cannot be tuned — set it in the suite, "
                          "or tune schedule: {choices: [multistep, cosine]}")
    kind = _KINDS[name]
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {name}: must be a mapping (got {_one_line(repr(raw))}) — "
                          f"write {name}: {{low: ..., high: ...}} or {name}: {{choices: [...]}}")
    allowed = ("choices",) if "choices" in raw else _RANGE_KEYS
    for key in raw:
        if key not in allowed:
            fix = (f"{_did_you_mean(str(key), [*_RANGE_KEYS, 'choices'])}a range takes "
                   f"{', '.join(_RANGE_KEYS)}; a list takes choices alone")
            raise ConfigError(f"{source}: {name}.{key}: unknown key here — {fix}")
    if "choices" in raw:
        choices = raw["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{source}: {name}.choices: must be a non-empty list "
                              f"(got {_one_line(repr(choices))}) — e.g. choices: [0.8, 0.9]")
        checked = tuple(check_training_value(source, f"{name}.choices[{i}]", name, v)
                        for i, v in enumerate(choices))
        if len(set(checked)) < len(checked):
            raise ConfigError(f"{source}: {name}.choices: a value appears twice — "
                              "remove the repeat")
        return Dimension(name, choices=checked)
    if kind not in (int, float):
        raise ConfigError(f"{source}: {name}: a {kind.__name__} field has no range — "
                          f"list its values: {name}: {{choices: [...]}}")
    for key in ("low", "high"):
        if key not in raw:
            raise ConfigError(f"{source}: {name}.{key}: missing (required) — a range needs low "
                              f"and high, e.g. {name}: {{low: ..., high: ...}}")
    low = check_training_value(source, f"{name}.low", name, _number(source, f"{name}.low",
                                                                   raw["low"], kind))
    high = check_training_value(source, f"{name}.high", name, _number(source, f"{name}.high",
                                                                     raw["high"], kind))
    if low >= high:
        raise ConfigError(f"{source}: {name}: low {low} is not below high {high} — swap them, or "
                          f"set one value in the suite (training.{name})")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{source}: {name}.log: must be true or false "
                          f"(got {_one_line(repr(log))}) — log: true samples on a log scale")
    if log and low <= 0:
        raise ConfigError(f"{source}: {name}.low: a log scale needs low > 0 (got {low}) — "
                          "raise low or drop log: true")
    step = raw.get("step")
    if step is not None:
        step = _number(source, f"{name}.step", step, kind)
        if step <= 0 or log:
            problem = "log and step exclude each other" if log else f"must be > 0 (got {step})"
            raise ConfigError(f"{source}: {name}.step: {problem} — drop step or log")
    return Dimension(name, low=low, high=high, log=log, step=step)


def load_space(path: str | Path) -> Space:
    """The validated space file at `path`; a problem is a one-line `ConfigError` naming the file
    and the field."""
    raw = read_yaml_mapping(Path(path), "space", _SPACE_HINT)
    source = str(path)
    if not raw:
        raise ConfigError(f"{source}: top level: no training field to tune — {_SPACE_HINT}")
    return Space(source, tuple(_dimension(source, str(k), v) for k, v in raw.items()))


# ------------------------------------------------------------------------------------ studies


def study_name(suite: str, spec: RunSpec) -> str:
    """``<suite>/<method>/<model>/<dataset>/s<sparsity>/w<warmup>``: one study per point of the
    grid except the seed."""
    return (f"{suite}/{spec.method}/{spec.model}/{spec.dataset}/s{spec.sparsity}"
            f"/w{spec.warmup_epochs}")


def study_specs(suite: Suite, method: str, seed: int | None = None) -> list[RunSpec]:
    """One spec per study: the suite's first run of `method` at each (model, dataset, sparsity,
    warm-up), without ablation, at `seed` (default: the first seed the suite runs)."""
    runs = [s for s in suite.specs if s.method == method]
    if not runs:
        present = list(dict.fromkeys(s.method for s in suite.specs))
        raise ConfigError(
            f"{suite.path}: --method {method!r}: no run of the suite has this method — "
            f"{_did_you_mean(method, present)}its runs have method {', '.join(present)}"
        )
    first: dict[tuple[Any, ...], RunSpec] = {}
    for s in runs:
        first.setdefault((s.model, s.dataset, s.sparsity, s.warmup_epochs), s)
    return [dataclasses.replace(s, seed=s.seed if seed is None else seed, ablation="none")
            for s in first.values()]


def redact(url: str) -> str:
    """A storage URL without its password, for logs and files."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


@contextmanager
def setup_lock(url: str) -> Iterator[None]:
    """Held while a process first opens the SQLite store at `url` (nothing for other URLs):
    MLflow's and Optuna's table creation breaks the store when two processes run it at once.
    The lock file lives in the temporary folder, keyed by the store's absolute path."""
    if not url.startswith("sqlite:///"):
        yield
        return
    from filelock import FileLock

    store = Path(url.removeprefix("sqlite:///").split("?")[0]).absolute()
    digest = hashlib.sha256(str(store).encode()).hexdigest()[:16]
    with FileLock(Path(tempfile.gettempdir()) / f"pai-bench-{digest}.lock", timeout=600):
        yield


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """``journal:PATH`` → a journal file (safe on NFS); anything else → an RDB URL, created if
    new (several processes may do so at once: retried)."""
    import optuna
    import sqlalchemy.exc
    from alembic.util.exc import CommandError

    if url.startswith("journal:"):
        path = url.removeprefix("journal:")
        if not path:
            raise ConfigError("--storage journal:: no path — write journal:PATH, e.g. "
                              "journal:optuna.log")
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(path))
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(6):
        try:
            with setup_lock(url):
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError,
                CommandError) as exc:
            if attempt == 5 or "unable to open" in str(exc):
                raise ConfigError(f"--storage {redact(url)}: cannot open it "
                                  f"({_one_line(exc)[:200]}) — check the URL and "
                                  "that its folder exists") from None
            time.sleep(0.2 * (attempt + 1))  # another process is creating the tables
        except (ValueError, ImportError, sqlalchemy.exc.ArgumentError) as exc:
            raise ConfigError(f"--storage {redact(url)}: not a storage ({_one_line(exc)[:200]}) "
                              "— use sqlite:///optuna.db, postgresql://..., mysql://... or "
                              "journal:PATH") from None
    raise AssertionError("unreachable")


def open_study(storage: optuna.storages.BaseStorage, name: str, spec: RunSpec,
               pruner: optuna.pruners.BasePruner) -> optuna.Study:
    """The study `name`, created if new; one that was started for another spec (another seed,
    another --set) is refused, so that trials of different recipes never mix."""
    import optuna

    study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                sampler=optuna.samplers.TPESampler(), pruner=pruner,
                                load_if_exists=True)
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ConfigError(f"study {name}: it minimizes — not a pai-bench study; "
                          "use another --storage")
    if "pai_bench.spec_key" not in study.user_attrs:
        study.set_user_attr("pai_bench.spec", spec.to_dict())
        study.set_user_attr("pai_bench.spec_key", spec.key)  # a racing process may win: re-read
    key = study.user_attrs["pai_bench.spec_key"]
    if key != spec.key:
        raise ConfigError(
            f"study {name}: started for another configuration of these runs (spec key {key}, "
            f"now {spec.key}: another --seed, --set or suite edit) — use the same, or another "
            "--storage, or delete the study (optuna delete-study --study-name NAME --storage URL)"
        )
    return study


def make_pruner(kind: str) -> optuna.pruners.BasePruner:
    import optuna

    if kind == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=0)


# ------------------------------------------------------------------------------------- MLflow


def open_experiment(uri: str, name: str) -> tuple[MlflowClient, str]:
    """A client of the store at `uri` and the id of its experiment `name` (created if missing).
    Several processes may create a new store at once: its set-up is retried while another one
    holds it."""
    import sqlalchemy.exc
    from alembic.util.exc import CommandError
    from mlflow import MlflowClient

    for attempt in range(10):
        try:
            with setup_lock(uri):
                client = MlflowClient(uri)
                return client, tune_experiment(client, name)
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError, CommandError):
            if attempt == 9:
                raise
            time.sleep(1.0)
    raise AssertionError("unreachable")


def tune_experiment(client: MlflowClient, name: str) -> str:
    """The id of MLflow experiment `name`, created if missing (by whichever process is first)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name)
        except MlflowException:  # created by another process meanwhile
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage != "active":
        raise ConfigError(f"MLflow experiment '{name}' is deleted — restore it "
                          f"(mlflow experiments restore) or delete it for good")
    return found.experiment_id


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


# ------------------------------------------------------------------------------------- trials


def load_data(spec: RunSpec, data_dir: Path | None) -> ImageData:
    """The spec's data set (a seam for tests)."""
    from pai_bench.data import load_dataset

    return load_dataset(spec.dataset, root=data_dir, **dict(spec.dataset_options))


def with_training(spec: RunSpec, values: dict[str, Any]) -> RunSpec:
    """`spec` with the training fields in `values` replaced."""
    return dataclasses.replace(spec, training=dataclasses.replace(spec.training, **values))


def make_objective(spec: RunSpec, space: Space, data: ImageData, log: StudyLog,
                   device: str) -> Callable[[optuna.Trial], float]:
    """The trial function: sample, run on train/validation only, report each epoch's validation
    accuracy to the pruner; the value is the best validation accuracy over the sparse epochs."""
    import optuna

    from pai_bench.run import execute

    def objective(trial: optuna.Trial) -> float:
        values = space.suggest(trial)
        candidate = with_training(spec, values)
        run_id = log.start(trial, values, candidate)
        trial.set_user_attr("mlflow_run_id", run_id)
        trial.set_user_attr("pai_bench.process", f"{socket.gethostname()}:{os.getpid()}")
        at = -1

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            nonlocal at
            at = epoch
            log.epoch(run_id, epoch, metrics)
            trial.report(metrics["val_acc"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"val_acc {metrics['val_acc']:.4f} at epoch {epoch}")

        try:
            result = execute(candidate, data, device=device, on_epoch=on_epoch,
                             evaluate_test=False)
        except optuna.TrialPruned:
            log.end(run_id, "PRUNED", epoch=at)
            raise
        except BaseException as exc:
            log.end(run_id, "FAIL", error=exc)
            raise
        value = result.metrics["best_val_acc"]
        log.end(run_id, "COMPLETE", value=value)
        return value

    return objective


def best_override(study: optuna.Study, spec: RunSpec, storage: str) -> Override | None:
    """The study's best values as an override entry (None before any complete trial)."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    best = max(complete, key=lambda t: t.value)
    match = {axis: spec.axes()[axis] for axis in
             ("method", "model", "dataset", "sparsity", "warmup_epochs")}
    return Override(match, dict(best.params), {"study": study.study_name, "storage": storage,
                                               "best_val_acc": round(float(best.value), 6),
                                               "trials": len(complete)})


# ---------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``pai-bench tune``."""
    parser.add_argument("suite", type=Path, help="suite file, e.g. suites/quickstart.yaml")
    parser.add_argument("--method", required=True, help="tune the runs of this method")
    parser.add_argument("--space", type=Path, required=True,
                        help="space file: training fields and their ranges, e.g. "
                             "suites/tune_quickstart.yaml")
    parser.add_argument("--trials", type=int, default=20,
                        help="trials this process adds to each study (default 20; 0 writes the "
                             "override file from the stored studies)")
    parser.add_argument("--storage", default="sqlite:///optuna.db",
                        help="Optuna storage shared by concurrent processes: an RDB URL "
                             "(default sqlite:///optuna.db) or journal:PATH (a journal file, "
                             "for a shared file system)")
    parser.add_argument("--pruner", choices=["median", "none"], default="median",
                        help="stop trials below the median of earlier ones at the same epoch "
                             f"(after {STARTUP_TRIALS} complete trials), or never")
    parser.add_argument("--seed", type=int, default=None,
                        help="the seed trials run with (default: the suite's first seed)")
    parser.add_argument("--out", type=Path, default=None,
                        help="override file to write (default: <suite name>.overrides.yaml); "
                             "entries for other runs already in it are kept")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a suite field, as for run (repeatable)")
    parser.add_argument("--filter", default=None, metavar="AXIS=VALUE,...",
                        help="only these runs of the suite, e.g. --filter sparsity=0.9")
    parser.add_argument("--device", default=None, help="cuda, cuda:1 or cpu (default: cuda if any)")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else MLflow's "
                             "embedded store in the working directory)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where data sets live (default: $PAI_BENCH_DATA, else ./data)")


def _command(args: argparse.Namespace) -> str:
    parts = ["pai-bench tune", str(args.suite), f"--method {args.method}",
             f"--space {args.space}", f"--trials {args.trials}", f"--pruner {args.pruner}"]
    parts += [f"--set {item}" for item in args.set]
    parts += [f"--filter {args.filter}"] if args.filter else []
    parts += [f"--seed {args.seed}"] if args.seed is not None else []
    return " ".join(parts)


def _report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    value = f"val_acc {trial.value:.4f}" if trial.value is not None else ""
    pruned = trial.intermediate_values
    if trial.state.name == "PRUNED" and pruned:
        value = f"at epoch {max(pruned)} (val_acc {pruned[max(pruned)]:.4f})"
    print(f"  trial {trial.number:>3} {trial.state.name:<8} {value} {trial.params}", flush=True)


def cmd_tune(args: argparse.Namespace) -> int:
    """``pai-bench tune``: add trials to each study, then write the override file."""
    import mlflow
    import optuna
    import torch

    from pai_bench.tracking import describe_device, git_commit

    if args.trials < 0:
        raise ConfigError(f"--trials {args.trials}: must be >= 0 — e.g. --trials 20")
    space = load_space(args.space)
    suite = load_suite(args.suite, args.set)
    if args.filter:
        suite = suite.filter(args.filter)
    specs = study_specs(suite, args.method, args.seed)
    names = [study_name(suite.name, s) for s in specs]
    for spec, name in zip(specs, names):
        space.check(spec, name)
    storage = open_storage(args.storage)
    shown = redact(args.storage)
    uri = args.tracking_uri or mlflow.get_tracking_uri()
    experiment = f"{suite.name}-tune"
    client, experiment_id = open_experiment(uri, experiment)
    fields = ", ".join(d.name for d in space.dimensions)
    print(f"tuning {args.method} in suite '{suite.name}' ({args.suite}): {args.trials} trials "
          f"for each of {len(specs)} studies, space {fields}, storage {shown}, MLflow experiment "
          f"'{experiment}' in {uri}, device {args.device}", flush=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tags = {"pai_bench.suite": suite.name, "pai_bench.storage": shown,
            "pai_bench.git_commit": git_commit(),
            "pai_bench.device": describe_device(torch.device(args.device))}
    data: dict[tuple[Any, ...], ImageData] = {}
    entries: list[Override] = []
    for spec, name in zip(specs, names):
        print(f"study {name}", flush=True)
        study = open_study(storage, name, spec, make_pruner(args.pruner))
        log = StudyLog(client, experiment_id, name, spec, tags)
        if args.trials:
            key = (spec.dataset, spec.dataset_options)
            if key not in data:
                data[key] = load_data(spec, args.data_dir)
            objective = make_objective(spec, space, data[key], log, args.device)
            study.optimize(objective, n_trials=args.trials, catch=(Exception,),
                           callbacks=[_report])
        log.summarize(study)
        entry = best_override(study, spec, shown)
        if entry is None:
            print("  no complete trial yet: nothing to write for this study")
            continue
        print(f"  best val_acc {entry.info['best_val_acc']:.4f} with {dict(entry.training)} "
              f"({entry.info['trials']} complete trials in the study)")
        entries.append(entry)
    if not entries:
        print("no study has a complete trial: no override file written")
        return 0
    out = args.out or Path(f"{suite.name}.overrides.yaml")
    now = datetime.datetime.now(datetime.timezone.utc)
    header = [f"written by: {_command(args)}",
              f"storage {shown}; MLflow experiment '{experiment}' in {uri}",
              f"{now:%Y-%m-%d %H:%M UTC}; git commit {git_commit()}",
              f"apply with: pai-bench run {args.suite} --overrides {out}"]
    written = write_overrides(out, entries, header)
    print(f"wrote {out} (entries: {len(written)}); apply with: pai-bench run {args.suite} "
          f"--overrides {out}")
    return 0
