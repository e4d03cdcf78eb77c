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

Each trial is an MLflow child run of its study's run (`pai_bench.tune_log`); the space file is
read by `pai_bench.tune_space`. The best values of every study go to an override file
(`pai_bench.overrides`) that ``pai-bench run SUITE --overrides FILE`` applies.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pai_bench.cli_options import add_device_options, add_suite_options, add_tracking_option
from pai_bench.errors import ConfigError
from pai_bench.overrides import Override, write_overrides
from pai_bench.spec import RunSpec
from pai_bench.store_lock import first_open_lock
from pai_bench.suite import Suite, _did_you_mean, _one_line, load_suite
from pai_bench.tune_log import StudyLog, open_experiment
from pai_bench.tune_space import Dimension, Space, load_space

if TYPE_CHECKING:  # optuna, mlflow and torch load where used: `pai-bench --help` stays fast
    import optuna

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

        if not Path(path).absolute().parent.is_dir():
            raise ConfigError(f"--storage {url}: the folder {Path(path).absolute().parent} does "
                              "not exist — create it, or point journal: at an existing folder")
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(6):
        try:
            with first_open_lock(url):
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
    add_suite_options(parser, set_help="override a suite field, as for run (repeatable)",
                      filter_help="only these runs of the suite, e.g. --filter sparsity=0.9")
    add_device_options(parser)
    add_tracking_option(parser)


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
    suite = load_suite(args.suite, args.set, args.filter)
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
    failed_all = False  # a study where every trial this process ran failed: exit 1
    for spec, name in zip(specs, names):
        print(f"study {name}", flush=True)
        study = open_study(storage, name, spec, make_pruner(args.pruner))
        log = StudyLog(client, experiment_id, name, spec, tags)
        if args.trials:
            key = (spec.dataset, spec.dataset_options)
            if key not in data:
                data[key] = load_data(spec, args.data_dir)
            objective = make_objective(spec, space, data[key], log, args.device)
            ran: list[str] = []  # the states of the trials this process ran
            study.optimize(objective, n_trials=args.trials, catch=(Exception,),
                           callbacks=[_report, lambda _, t, ran=ran: ran.append(t.state.name)])
            failed_all = failed_all or (bool(ran) and set(ran) == {"FAIL"})
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
        return 1 if failed_all else 0
    out = args.out or Path(f"{suite.name}.overrides.yaml")
    now = datetime.datetime.now(datetime.timezone.utc)
    header = [f"written by: {_command(args)}",
              f"storage {shown}; MLflow experiment '{experiment}' in {uri}",
              f"{now:%Y-%m-%d %H:%M UTC}; git commit {git_commit()}",
              f"apply with: pai-bench run {args.suite} --overrides {out}"]
    written = write_overrides(out, entries, header)
    print(f"wrote {out} (entries: {len(written)}); apply with: pai-bench run {args.suite} "
          f"--overrides {out}")
    return 1 if failed_all else 0
