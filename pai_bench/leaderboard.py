"""`pai-bench leaderboard`: the runs of a suite as the tables and figures of a paper.

Reads the suite's MLflow experiment into pandas (one row per run key: its latest FINISHED run, else
its latest attempt, so that failures stay visible), groups by model, dataset, warm-up, sparsity
and method, and aggregates the test accuracy over seeds: mean, std (ddof 1), n. A group with fewer
finished seeds than planned, or with a failed run, is marked incomplete (†) and never competes for
best; runs with a collapsed layer are flagged (‡). In each row the best complete mean is bold and
every complete mean within one standard deviation (the best's) of it is italic.

Writes ``leaderboard.md`` (GitHub tables), ``leaderboard.csv`` (tidy, one row per group),
``leaderboard.tex`` (booktabs), ``index.html`` (tables and plots), ``accuracy_vs_density.png`` and
``layer_density.png``. Each states its provenance: suite, runs counted, git commits, devices,
package versions, date. Rows and floats are written in a fixed order and format, so the same store
gives byte-identical tables apart from the "Generated" line (the PNGs carry the date in their
metadata only).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from pai_bench.cli_options import add_suite_options, add_tracking_option
from pai_bench.errors import ConfigError
from pai_bench.reference import REFERENCES, ReferenceTable, get_reference
from pai_bench.spec import DENSE
from pai_bench.suite import Suite, load_suite

if TYPE_CHECKING:  # mlflow and matplotlib load where used: `pai-bench --help` stays fast
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from pai_bench.tracking import Tracker

__all__ = [
    "FILES",
    "GROUP",
    "METRICS",
    "Leaderboard",
    "Provenance",
    "add_arguments",
    "aggregate",
    "build_leaderboard",
    "cmd_leaderboard",
    "load_layer_densities",
    "load_runs",
    "open_tracker",
    "plot_accuracy",
    "plot_layer_density",
    "read_runs",
    "select_runs",
    "to_csv",
    "to_html",
    "to_latex",
    "to_markdown",
    "write_leaderboard",
]

Metric = Literal["final", "best_val"]
METRICS: dict[str, tuple[str, str]] = {  # --metric → (logged metric, what it is)
    "final": ("final_test_acc", "final-epoch test accuracy"),
    "best_val": ("best_val_test_acc", "test accuracy at the best-validation epoch"),
}
GROUP = ("model", "dataset", "warmup_epochs", "sparsity", "method")
PANEL = ("model", "dataset", "warmup_epochs")
ROW = (*PANEL, "sparsity")
FINISHED = "FINISHED"
FAILED = ("FAILED", "KILLED")
RUN_METRICS = (
    "final_test_acc",
    "final_test_top5",
    "final_val_acc",
    "best_val_acc",
    "best_val_test_acc",
    "best_val_test_top5",
    "best_val_epoch",
    "achieved_sparsity",
    "collapsed_layers",
    "revived_weights",
    "scoring_seconds",
    "scoring_peak_memory_mb",
)
RUN_COLUMNS = (
    "run_id",
    "run_key",
    "status",
    "start_time",
    "model",
    "dataset",
    "method",
    "sparsity",
    "warmup_epochs",
    "seed",
    "git_commit",
    "device",
    "error",
    *RUN_METRICS,
)
TABLE_COLUMNS = (
    *GROUP,
    "metric",
    "mean",
    "std",
    "n",
    "planned",
    "failed",
    "unfinished",
    "complete",
    "collapsed",
    "mark",
    "achieved_sparsity",
    "seeds",
)
LAYERS_ARTIFACT = "layer_densities.json"
FILES = {
    "markdown": "leaderboard.md",
    "csv": "leaderboard.csv",
    "latex": "leaderboard.tex",
    "html": "index.html",
    "accuracy": "accuracy_vs_density.png",
    "layers": "layer_density.png",
}
DASH = "—"  # a group without any finished run
GENERATED = "Generated:"  # the one line that differs between two renderings of the same store


# ------------------------------------------------------------------------------ reading runs


def _run_row(run: Run, key_tag: str) -> dict[str, Any] | None:
    """One run as a flat record, or None if it lacks pai-bench's axis tags."""
    tags, metrics = run.data.tags, run.data.metrics
    try:
        axes = {
            "model": tags["pai_bench.model"],
            "dataset": tags["pai_bench.dataset"],
            # an ablated mask is its own column: snip+shuffle beside snip
            "method": tags["pai_bench.method"] + (
                "" if tags.get("pai_bench.ablation", "none") == "none"
                else f"+{tags['pai_bench.ablation']}"),
            "sparsity": float(tags["pai_bench.sparsity"]),
            "warmup_epochs": int(tags["pai_bench.warmup_epochs"]),
            "seed": int(tags["pai_bench.seed"]),
        }
    except (KeyError, ValueError):
        return None
    row = {
        "run_id": run.info.run_id,
        "run_key": tags.get(key_tag, ""),
        "status": run.info.status,
        "start_time": int(run.info.start_time or 0),
        **axes,
        "git_commit": tags.get("pai_bench.git_commit", "unknown"),
        "device": tags.get("pai_bench.device", "unknown"),
        "error": tags.get("pai_bench.error", ""),
    }
    row.update({name: float(metrics.get(name, np.nan)) for name in RUN_METRICS})
    row.update({k: v for k, v in tags.items() if k.startswith("version.")})
    return row


def read_runs(tracker: Tracker) -> pd.DataFrame:
    """Every pai-bench run of the tracker's experiment, one row per MLflow run, unfiltered."""
    from pai_bench.tracking import KEY_TAG

    rows = [
        row
        for row in (_run_row(run, KEY_TAG) for run in tracker.runs())
        if row is not None and row["run_key"]
    ]
    versions = sorted({k for row in rows for k in row if k.startswith("version.")})
    df = pd.DataFrame(rows, columns=[*RUN_COLUMNS, *versions])
    return df.astype({"sparsity": float, "warmup_epochs": int, "seed": int, "start_time": int})


def _latest(df: pd.DataFrame, subset: Sequence[str]) -> pd.DataFrame:
    """One row per `subset` value: the latest FINISHED run, else the latest attempt."""
    ranked = df.assign(_done=df["status"].eq(FINISHED)).sort_values(
        ["_done", "start_time", "run_id"], ascending=[False, False, True], kind="stable"
    )
    return ranked.drop_duplicates(list(subset), keep="first").drop(columns="_done")


def select_runs(df: pd.DataFrame, keys: set[str] | None = None) -> pd.DataFrame:
    """The runs that count: the latest FINISHED run per run key (else its latest failed or
    unfinished attempt), only keys in `keys` if given, then one run per (group, seed) should two
    recipes share the axes; sorted by group, seed and key."""
    chosen = _latest(df, ["run_key"])
    if keys is not None:
        chosen = chosen[chosen["run_key"].isin(keys)]
    chosen = _latest(chosen, [*GROUP, "seed"])
    return chosen.sort_values([*GROUP, "seed", "run_key"], kind="stable").reset_index(drop=True)


def load_runs(tracker: Tracker) -> pd.DataFrame:
    """One row per run key of the tracker's experiment: axes, status, metrics, run_key, run_id,
    git commit, device, error and ``version.*`` columns (see `select_runs`)."""
    return select_runs(read_runs(tracker))


# ------------------------------------------------------------------------------- aggregation


def metric_column(metric: str) -> str:
    """The logged metric behind ``--metric final|best_val``."""
    if metric not in METRICS:
        raise ConfigError(
            f"--metric {metric!r}: unknown metric — choose one of {', '.join(METRICS)}"
        )
    return METRICS[metric][0]


def planned_keys(suite: Suite) -> set[str]:
    """The run keys a suite plans."""
    return {spec.key for spec in suite.specs}


def _planned_counts(suite: Suite) -> pd.Series:
    """Seeds planned per group, from the suite's specs (one per run key)."""
    unique = {spec.key: spec for spec in suite.specs}.values()
    counts = Counter(tuple({**spec.axes(), "method": spec.label}[k] for k in GROUP)
                     for spec in unique)
    index = pd.MultiIndex.from_tuples(sorted(counts), names=list(GROUP))
    return pd.Series([counts[k] for k in index], index=index, dtype=int)


def _group_stats(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """mean, std, n over the finished runs of each group; failed, unfinished, collapsed counts."""
    done = df["status"].eq(FINISHED)
    work = df.assign(
        _value=df[column].where(done),
        _failed=df["status"].isin(FAILED),
        _unfinished=~done & ~df["status"].isin(FAILED),
        _collapsed=done & df["collapsed_layers"].fillna(0).gt(0),
        _achieved=df["achieved_sparsity"].where(done),
        _seed=df["seed"].where(done),
    )
    return work.groupby(list(GROUP), sort=True).agg(
        mean=("_value", "mean"),
        std=("_value", "std"),
        n=("_value", "count"),
        runs=("status", "size"),
        failed=("_failed", "sum"),
        unfinished=("_unfinished", "sum"),
        collapsed=("_collapsed", "sum"),
        achieved_sparsity=("_achieved", "mean"),
        seeds=("_seed", lambda s: " ".join(str(int(v)) for v in sorted(s.dropna()))),
    )


def _mark_best(table: pd.DataFrame) -> pd.Series:
    """ "best" for the highest complete mean of each row (model, dataset, warm-up, sparsity),
    "tie" for every other complete mean within the best's std of it, "" elsewhere."""
    mark = pd.Series("", index=table.index, dtype=object)
    eligible = table[table["method"].ne(DENSE) & table["complete"] & table["n"].gt(0)]
    for _, rows in eligible.groupby(list(ROW), sort=False):
        best = rows["mean"].max()
        at_best = rows["mean"] >= best - 1e-12
        spread = rows.loc[at_best, "std"].fillna(0.0).max()
        mark[rows.index[rows["mean"] >= best - spread - 1e-12]] = "tie"
        mark[rows.index[at_best]] = "best"
    return mark


def aggregate(
    df: pd.DataFrame, *, metric: Metric | str = "final", planned: Suite | None = None
) -> pd.DataFrame:
    """The tidy leaderboard, one row per group (model, dataset, warmup_epochs, sparsity, method),
    dense baselines included (method "dense", sparsity 0, warm-up 0).

    Columns: the group axes; `metric` (the logged name); `mean` and `std` (ddof 1, NaN for one
    seed) of that metric over the group's finished runs, as fractions; `n` finished; `planned`
    seeds (from `planned`'s specs, whose groups appear even without any run; without a suite, the
    most seeds any group has attempted); `failed` (FAILED or KILLED) and `unfinished` (RUNNING:
    in progress or lost) runs; `complete` (n == planned, nothing failed or unfinished);
    `collapsed` (finished runs with a collapsed layer); `mark` ("best", "tie" or ""); the mean
    `achieved_sparsity`; the finished `seeds`. Given a suite, runs outside its plan are ignored.
    """
    column = metric_column(metric)
    if planned is not None:
        df = df[df["run_key"].isin(planned_keys(planned))]
    stats = _group_stats(df, column)
    if planned is not None:
        seeds = _planned_counts(planned)
        stats = stats.reindex(stats.index.union(seeds.index))
        stats["planned"] = seeds.reindex(stats.index).fillna(0)
    else:
        stats["planned"] = stats["runs"].max() if len(stats) else 0
    counts = ["n", "runs", "failed", "unfinished", "collapsed", "planned"]
    stats[counts] = stats[counts].fillna(0).astype(int)
    stats["seeds"] = stats["seeds"].fillna("")
    table = stats.reset_index().sort_values(list(GROUP), kind="stable").reset_index(drop=True)
    table["metric"] = column
    table["complete"] = (
        table["n"].eq(table["planned"])
        & table["planned"].gt(0)
        & table["failed"].eq(0)
        & table["unfinished"].eq(0)
    )
    table["mark"] = _mark_best(table)
    return table[list(TABLE_COLUMNS)]


# -------------------------------------------------------------------------------- provenance


@dataclass(frozen=True)
class Provenance:
    """Where a leaderboard's numbers come from."""

    suite: str
    source: str  # the suite file, or "experiment 'NAME'"
    metric: str  # the --metric value
    command: str
    finished: int
    failed: int
    unfinished: int
    planned: int | None  # run keys the suite plans; None without a suite
    outside: int  # runs of the experiment whose key the suite does not plan (left out)
    superseded: int  # older attempts of a counted key or seed (left out)
    commits: tuple[tuple[str, int], ...]
    devices: tuple[tuple[str, int], ...]
    versions: tuple[tuple[str, tuple[str, ...]], ...]
    generated: str

    def runs_line(self) -> str:
        """ "12 finished, 1 failed, 0 unfinished of 15 planned (left out: ...)"."""
        of = f" of {self.planned} planned" if self.planned is not None else ""
        text = f"{self.finished} finished, {self.failed} failed, {self.unfinished} unfinished{of}"
        left = []
        if self.outside:
            left.append(f"{self.outside} runs not planned by this suite")
        if self.superseded:
            left.append(f"{self.superseded} older attempts of the same run")
        return text + (f" (left out: {'; '.join(left)})" if left else "")

    def lines(self) -> list[str]:
        """The provenance as "Label: value" lines; the date comes last, alone on its line."""

        def counted(items: tuple[tuple[str, int], ...]) -> str:
            return ", ".join(f"{name} ({n} runs)" for name, n in items) or "none recorded"

        packages = ", ".join(f"{name} {' / '.join(v)}" for name, v in self.versions)
        label, what = METRICS[self.metric]
        return [
            f"Suite: {self.suite} ({self.source})",
            f"Metric: {label} ({what}), in %, mean ± std over seeds",
            f"Runs counted: {self.runs_line()}",
            f"Git commit: {counted(self.commits)}",
            f"Device: {counted(self.devices)}",
            f"Packages: {packages or 'none recorded'}",
            f"Command: {self.command}",
            f"{GENERATED} {self.generated}",
        ]

    def short(self) -> str:
        """One line for figures (no date: it lives in the PNG metadata)."""
        commits = ", ".join(c[:12] for c, _ in self.commits) or "unknown"
        devices = ", ".join(d for d, _ in self.devices) or "unknown"
        return (
            f"suite {self.suite} · {METRICS[self.metric][0]} · {self.runs_line()} · "
            f"commit {commits} · {devices}"
        )


def _counted(values: pd.Series) -> tuple[tuple[str, int], ...]:
    counts = Counter(str(v) for v in values)
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def make_provenance(
    all_runs: pd.DataFrame,
    runs: pd.DataFrame,
    *,
    suite: Suite | None,
    experiment: str,
    metric: str,
    command: str,
    source: str | None = None,
    now: datetime | None = None,
) -> Provenance:
    """The provenance of a leaderboard built from `runs`, chosen out of `all_runs`."""
    keys = planned_keys(suite) if suite is not None else None
    inside = all_runs if keys is None else all_runs[all_runs["run_key"].isin(keys)]
    versions = sorted(c for c in runs.columns if c.startswith("version."))
    status = runs["status"]
    return Provenance(
        suite=suite.name if suite is not None else experiment,
        source=source or (str(suite.path) if suite is not None else f"experiment '{experiment}'"),
        metric=metric,
        command=command,
        finished=int(status.eq(FINISHED).sum()),
        failed=int(status.isin(FAILED).sum()),
        unfinished=int((~status.eq(FINISHED) & ~status.isin(FAILED)).sum()),
        planned=len(keys) if keys is not None else None,
        outside=len(all_runs) - len(inside),
        superseded=len(inside) - len(runs),
        commits=_counted(runs["git_commit"]),
        devices=_counted(runs["device"]),
        versions=tuple(
            (c.removeprefix("version."), tuple(sorted(runs[c].dropna().unique()))) for c in versions
        ),
        generated=(now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S UTC"),
    )


# ----------------------------------------------------------------------------- layer density


@contextmanager
def _quiet_artifacts() -> Iterator[None]:
    """MLflow's artifact progress bars off for the duration (they would fill stderr)."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    old = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _read_layers(client: MlflowClient, run_id: str, folder: str) -> list[dict[str, Any]]:
    """The run's layer_densities.json layers, or [] if it has none."""
    from mlflow.exceptions import MlflowException

    try:
        path = client.download_artifacts(run_id, LAYERS_ARTIFACT, folder)
        return list(json.loads(Path(path).read_text(encoding="utf-8"))["layers"])
    except (MlflowException, OSError, KeyError, ValueError):
        return []


def load_layer_densities(tracker: Tracker, runs: pd.DataFrame) -> pd.DataFrame:
    """Per-layer density per method at the highest sparsity of each (model, dataset, warm-up),
    averaged over the finished seeds: one row per (panel, sparsity, method, layer)."""
    columns = [*GROUP, "layer_index", "layer", "density", "kept", "total", "collapsed", "n"]
    pruned = runs[runs["status"].eq(FINISHED) & runs["method"].ne(DENSE)]
    top = pruned.groupby(list(PANEL))["sparsity"].transform("max")
    rows = []
    with _quiet_artifacts(), tempfile.TemporaryDirectory() as folder:
        for run in pruned[pruned["sparsity"].eq(top)].itertuples(index=False):
            for i, layer in enumerate(_read_layers(tracker.client, run.run_id, folder)):
                rows.append(
                    {
                        **{k: getattr(run, k) for k in GROUP},
                        "layer_index": i,
                        "layer": str(layer["name"]),
                        "density": float(layer["density"]),
                        "kept": float(layer["kept"]),
                        "total": int(layer["total"]),
                        "collapsed": bool(layer["collapsed"]),
                    }
                )
    if not rows:
        return pd.DataFrame(columns=columns)
    raw = pd.DataFrame(rows)
    out = raw.groupby([*GROUP, "layer_index", "layer"], sort=True).agg(
        density=("density", "mean"),
        kept=("kept", "mean"),
        total=("total", "first"),
        collapsed=("collapsed", "sum"),
        n=("density", "count"),
    )
    return out.reset_index()[columns]


# ------------------------------------------------------------------------------- leaderboard


@dataclass(frozen=True)
class Leaderboard:
    """Everything the renderers need: the tidy table, the layer densities, where they come from,
    and the optional published reference table."""

    table: pd.DataFrame
    layers: pd.DataFrame
    provenance: Provenance
    reference: ReferenceTable | None = None
    files: dict[str, str] = field(default_factory=lambda: dict(FILES))

    @property
    def metric(self) -> str:
        return self.provenance.metric

    def panels(self) -> list[tuple[str, str, int]]:
        """(model, dataset, warm-up) of every table, sorted; a (model, dataset) with only a
        dense baseline gets warm-up 0."""
        keys = {tuple(k) for k in self.table[list(PANEL)].itertuples(index=False)}
        pruned = {k for k in keys if self.panel_rows(k).size}
        dense_only = {(m, d, 0) for m, d, _ in keys if not any(p[:2] == (m, d) for p in pruned)}
        return sorted(pruned | dense_only)

    def panel_rows(self, panel: tuple[str, str, int]) -> pd.DataFrame:
        """The pruned groups of one (model, dataset, warm-up)."""
        t = self.table
        mask = t["model"].eq(panel[0]) & t["dataset"].eq(panel[1]) & t["warmup_epochs"].eq(panel[2])
        return t[mask & t["method"].ne(DENSE)]

    def dense(self, model: str, dataset: str) -> pd.Series | None:
        """The dense baseline group of (model, dataset), if the suite has one."""
        t = self.table
        rows = t[t["model"].eq(model) & t["dataset"].eq(dataset) & t["method"].eq(DENSE)]
        return rows.iloc[0] if len(rows) else None


def build_leaderboard(
    tracker: Tracker,
    *,
    suite: Suite | None = None,
    metric: Metric | str = "final",
    reference: ReferenceTable | None = None,
    command: str = "",
    source: str | None = None,
    now: datetime | None = None,
) -> Leaderboard:
    """Read the tracker's experiment and aggregate it (restricted to `suite`'s plan if given)."""
    metric_column(metric)
    all_runs = read_runs(tracker)
    runs = select_runs(all_runs, planned_keys(suite) if suite is not None else None)
    command = command or f"pai-bench leaderboard --experiment {tracker.experiment}"
    return Leaderboard(
        table=aggregate(runs, metric=metric, planned=suite),
        layers=load_layer_densities(tracker, runs),
        provenance=make_provenance(
            all_runs,
            runs,
            suite=suite,
            experiment=tracker.experiment,
            metric=metric,
            command=command,
            source=source,
            now=now,
        ),
        reference=reference,
    )


# -------------------------------------------------------------------------------- formatting


def fmt_sparsity(value: float) -> str:
    """0.5 → "0.50", 0.995 → "0.995": at least two decimals, as many as the value needs."""
    for digits in range(2, 8):
        if abs(round(value, digits) - value) < 1e-12:
            return f"{value:.{digits}f}"
    return f"{value:.8f}"


def fmt_mean_std(mean: float, std: float) -> str:
    """Numbers already in %: "90.55 ± 0.23", "90.55 ± –" for one seed, "—" for none."""
    if pd.isna(mean):
        return DASH
    return f"{mean:.2f} ± {'–' if pd.isna(std) else f'{std:.2f}'}"


@dataclass(frozen=True)
class Cell:
    """One table cell: the number, its rank mark ("best", "tie", "") and its flags."""

    core: str
    mark: str = ""
    notes: str = ""


def group_cell(row: pd.Series) -> Cell:
    """A group of the tidy table as a cell: % numbers, † n/planned if incomplete, ‡ collapsed."""
    notes = []
    if not row["complete"]:
        failed = f" ({row['failed']} failed)" if row["failed"] else ""
        lost = f" ({row['unfinished']} unfinished)" if row["unfinished"] else ""
        notes.append(f"†{row['n']}/{row['planned']}{failed}{lost}")
    if row["collapsed"]:
        notes.append(f"‡{row['collapsed']}")
    return Cell(fmt_mean_std(100 * row["mean"], 100 * row["std"]), row["mark"], " ".join(notes))


@dataclass(frozen=True)
class Grid:
    """A rendered-agnostic table: header, rows of plain strings and cells, lines around it."""

    title: str
    label: str  # a slug, for LaTeX labels and HTML ids
    intro: tuple[str, ...]
    header: tuple[str, ...]
    rows: tuple[tuple[str | Cell, ...], ...]
    notes: tuple[str, ...] = ()


def legend_lines(metric: str) -> tuple[str, ...]:
    """What the cells and their marks mean."""
    label, what = METRICS[metric]
    return (
        f"Cells: {what} ({label}) in %, mean ± std (ddof 1; '± –' for one seed) over the seeds "
        "that finished.",
        "Bold: the best complete mean in the row; italic: a complete mean within one standard "
        "deviation (the best's) of it.",
        "† n/planned: incomplete, fewer finished seeds than planned or a failed or unfinished "
        "run; never counted as best.",
        "‡ k: k finished runs had a collapsed layer (a prunable layer with no weight kept).",
        f"{DASH}: no finished run.",
    )


def panel_grid(board: Leaderboard, panel: tuple[str, str, int]) -> Grid:
    """The table of one (model, dataset, warm-up): rows = sparsity, columns = methods."""
    model, dataset, warmup = panel
    rows = board.panel_rows(panel)
    methods = sorted(rows["method"].unique())
    sparsities = sorted(rows["sparsity"].unique())
    cells = {(r["sparsity"], r["method"]): group_cell(r) for _, r in rows.iterrows()}
    body = tuple(
        (fmt_sparsity(s), fmt_sparsity(1 - s), *(cells.get((s, m), Cell(DASH)) for m in methods))
        for s in sparsities
    )
    dense = board.dense(model, dataset)
    if dense is None:
        intro = "Dense baseline: none in these runs."
    else:
        cell = group_cell(dense)
        intro = f"Dense baseline (no pruning): {cell.core} {cell.notes}".rstrip() + "."
    epochs = "epoch" if warmup == 1 else "epochs"
    return Grid(
        title=f"{model} / {dataset}, warm-up {warmup} {epochs}",
        label=f"{model}-{dataset}-w{warmup}",
        intro=(intro,),
        header=("sparsity", "density", *methods),
        rows=body,
    )


def _ranked(cells: dict[str, tuple[float, float]]) -> dict[str, str]:
    """The same best/tie rule as ours, for the cells of one reference row."""
    best = max(mean for mean, _ in cells.values())
    spread = max(std for mean, std in cells.values() if mean >= best - 1e-9)
    return {
        k: "best" if mean >= best - 1e-9 else "tie" if mean >= best - spread - 1e-9 else ""
        for k, (mean, _) in cells.items()
    }


def reference_grid(ref: ReferenceTable) -> Grid:
    """The published table, as published (numbers in %), with its label."""
    keys = [key for key, _ in ref.columns]
    body = []
    for sparsity, values in ref.rows:
        marks = _ranked(dict(zip(keys, values)))
        body.append(
            (
                fmt_sparsity(sparsity),
                fmt_sparsity(1 - sparsity),
                *(Cell(fmt_mean_std(m, s), marks[k]) for k, (m, s) in zip(keys, values)),
            )
        )
    return Grid(
        title=f"Reference: {ref.label}",
        label=f"reference-{ref.name}",
        intro=(f"{ref.description}. Numbers {ref.label}; bold and italic as above.",),
        header=("sparsity", "density", *(label for _, label in ref.columns)),
        rows=tuple(body),
        notes=ref.notes,
    )


def comparison_grid(board: Leaderboard) -> Grid | None:
    """Ours beside the reference where both have the model, data set, sparsity and method
    (warm-up 0, as the reference implies), or None."""
    ref = board.reference
    if ref is None:
        return None
    t = board.table
    ours = t[
        t["model"].eq(ref.model)
        & t["dataset"].eq(ref.dataset)
        & t["warmup_epochs"].eq(0)
        & t["method"].ne(DENSE)
    ]
    published = ref.cells()
    pairs = {(s, m) for s, m in zip(ours["sparsity"], ours["method"])} & set(published)
    if not pairs:
        return None
    methods = [key for key, _ in ref.columns if any(m == key for _, m in pairs)]
    rows = []
    for s in sorted({s for s, _ in pairs}):
        cells = []
        for m in methods:
            if (s, m) not in pairs:
                cells.append(Cell(DASH))
                continue
            row = ours[ours["sparsity"].eq(s) & ours["method"].eq(m)].iloc[0]
            own = group_cell(row)
            mine = f"{own.core} {own.notes}".rstrip()
            cells.append(Cell(f"{mine} vs {fmt_mean_std(*published[(s, m)])}"))
        rows.append((fmt_sparsity(s), fmt_sparsity(1 - s), *cells))
    return Grid(
        title=f"Ours vs reference: {ref.model} / {ref.dataset}, warm-up 0",
        label=f"comparison-{ref.name}",
        intro=(f"Each cell: measured here ({METRICS[board.metric][1]}) vs {ref.label}.",),
        header=("sparsity", "density", *methods),
        rows=tuple(rows),
    )


def grids(board: Leaderboard) -> list[Grid]:
    """Every table of the leaderboard, in order: ours per panel, then the reference ones."""
    out = [panel_grid(board, p) for p in board.panels()]
    if board.reference is not None:
        comparison = comparison_grid(board)
        out += [comparison] if comparison is not None else []
        out.append(reference_grid(board.reference))
    return out


# ------------------------------------------------------------------------------- Markdown


def _md_cell(value: str | Cell) -> str:
    if isinstance(value, str):
        return value
    core = {"best": f"**{value.core}**", "tie": f"*{value.core}*"}.get(value.mark, value.core)
    return f"{core} {value.notes}".rstrip().replace("|", "\\|")


def _md_grid(grid: Grid) -> list[str]:
    lines = [f"## {grid.title}", "", *grid.intro, ""]
    lines.append("| " + " | ".join(grid.header) + " |")
    lines.append(
        "|" + "|".join("---:" if i < 2 else ":---:" for i in range(len(grid.header))) + "|"
    )
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in grid.rows]
    if grid.notes:
        lines += ["", *grid.notes]
    return [*lines, ""]


def to_markdown(board: Leaderboard) -> str:
    """GitHub-flavoured Markdown: provenance, legend, one table per panel, the reference."""
    p = board.provenance
    lines = [f"# pai-bench leaderboard: {p.suite}", ""]
    lines += [f"- {line}" for line in p.lines()]
    lines += ["", " ".join(legend_lines(board.metric)), ""]
    for grid in grids(board):
        lines += _md_grid(grid)
    lines += [
        "## Figures",
        "",
        f"![accuracy against remaining density]({board.files['accuracy']})",
        "",
        f"![per-layer density at the highest sparsity]({board.files['layers']})",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- CSV


def to_csv(board: Leaderboard) -> str:
    """The tidy table: provenance as leading "# " lines, then one row per group; accuracies as
    fractions with 8 decimals. Read it back with ``pandas.read_csv(path, comment="#")``."""
    table = board.table.copy()
    table["sparsity"] = table["sparsity"].map(fmt_sparsity)
    for column in ("mean", "std", "achieved_sparsity"):
        table[column] = table[column].map(lambda v: "" if pd.isna(v) else f"{v:.8f}")
    lines = [
        *board.provenance.lines(),
        "Values: mean and std are fractions in [0, 1] "
        "(the tables show %); one row per group; read with pandas.read_csv(path, "
        "comment='#')",
    ]
    header = "".join(f"# {line}\n" for line in lines)
    return header + table.to_csv(index=False, lineterminator="\n")


# ------------------------------------------------------------------------------------ LaTeX

_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "−": "$-$",
    "–": "--",
    "—": "---",
    "†": r"\textsuperscript{\dag}",
    "‡": r"\textsuperscript{\ddag}",
    "θ": r"$\theta$",
    "⊙": r"$\odot$",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "→": r"$\to$",
}


def latex_escape(text: str) -> str:
    """Plain text (with the few symbols the tables use) as LaTeX."""
    return "".join(_LATEX.get(ch, ch) for ch in text)


def _tex_cell(value: str | Cell) -> str:
    if isinstance(value, str):
        return latex_escape(value)
    core = latex_escape(value.core)
    core = {"best": rf"\textbf{{{core}}}", "tie": rf"\textit{{{core}}}"}.get(value.mark, core)
    return f"{core} {latex_escape(value.notes)}".rstrip()


def _tex_grid(grid: Grid) -> list[str]:
    caption = latex_escape(" ".join([grid.title + ".", *grid.intro, *grid.notes]))
    cols = "rr" + "c" * (len(grid.header) - 2)
    return [
        r"\begin{table}[htbp]",
        r"\centering",
        r"\small",
        rf"\caption{{{caption}}}",
        rf"\label{{tab:pai-bench-{grid.label}}}",
        r"\resizebox{\linewidth}{!}{%",
        rf"\begin{{tabular}}{{{cols}}}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in grid.header) + r" \\",
        r"\midrule",
        *(" & ".join(_tex_cell(v) for v in row) + r" \\" for row in grid.rows),
        r"\bottomrule",
        r"\end{tabular}}",
        r"\end{table}",
        "",
    ]


def to_latex(board: Leaderboard) -> str:
    """booktabs tables (needs ``\\usepackage{booktabs,graphicx}``), provenance as comments."""
    p = board.provenance
    lines = [
        f"% pai-bench leaderboard: {p.suite}",
        *(f"% {line}" for line in p.lines()),
        "% Requires \\usepackage{booktabs,graphicx}.",
        *(f"% {line}" for line in legend_lines(board.metric)),
        "",
    ]
    for grid in grids(board):
        lines += _tex_grid(grid)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- HTML

_CSS = """body{font-family:system-ui,sans-serif;max-width:80rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{padding:.25rem .6rem;text-align:center}
thead th{border-bottom:2px solid #333}tbody tr:nth-child(odd){background:#f4f4f4}
td:nth-child(-n+2),th:nth-child(-n+2){text-align:right}img{max-width:100%}
.provenance{font-size:.9rem;color:#333}.legend{font-size:.85rem;color:#555}"""


def _html_cell(value: str | Cell) -> str:
    if isinstance(value, str):
        return html.escape(value)
    core = html.escape(value.core)
    core = {"best": f"<strong>{core}</strong>", "tie": f"<em>{core}</em>"}.get(value.mark, core)
    notes = f" <small>{html.escape(value.notes)}</small>" if value.notes else ""
    return core + notes


def _html_grid(grid: Grid) -> list[str]:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in grid.header)
    body = [
        "<tr>" + "".join(f"<td>{_html_cell(v)}</td>" for v in row) + "</tr>" for row in grid.rows
    ]
    return [
        f'<h2 id="{html.escape(grid.label)}">{html.escape(grid.title)}</h2>',
        *(f"<p>{html.escape(line)}</p>" for line in grid.intro),
        f"<table><thead><tr>{head}</tr></thead><tbody>",
        *body,
        "</tbody></table>",
        *(f'<p class="legend">{html.escape(line)}</p>' for line in grid.notes),
    ]


def to_html(board: Leaderboard) -> str:
    """One page: provenance, legend, the tables, the two figures (referenced relatively)."""
    p = board.provenance
    title = html.escape(f"pai-bench leaderboard: {p.suite}")
    files = board.files
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        '<ul class="provenance">',
        *(f"<li>{html.escape(x)}</li>" for x in p.lines()),
        "</ul>",
        '<div class="legend">',
        *(f"<p>{html.escape(x)}</p>" for x in legend_lines(board.metric)),
        "</div>",
    ]
    for grid in grids(board):
        lines += _html_grid(grid)
    lines += [
        '<h2 id="figures">Figures</h2>',
        f'<p><img src="{files["accuracy"]}" alt="accuracy against remaining density"></p>',
        f'<p><img src="{files["layers"]}" alt="per-layer density"></p>',
        "<p>Also: "
        + ", ".join(f'<a href="{files[k]}">{files[k]}</a>' for k in ("markdown", "csv", "latex"))
        + "</p>",
        "</body></html>",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ plots

_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p")


def _style(methods: Sequence[str]) -> dict[str, tuple[Any, str]]:
    """A fixed colour and marker per method (sorted order), the same in both figures."""
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return {m: (palette(i % 10), _MARKERS[i % len(_MARKERS)]) for i, m in enumerate(methods)}


def _figure(board: Leaderboard, title: str) -> tuple[Figure, dict[tuple[str, str, int], Axes]]:
    """One panel per (model, dataset) row × warm-up column, the unused ones switched off."""
    from matplotlib.figure import Figure

    panels = board.panels() or [("none", "none", 0)]
    pairs = sorted({p[:2] for p in panels})
    warmups = sorted({p[2] for p in panels})
    fig = Figure(figsize=(4.6 * len(warmups) + 2.2, 3.6 * len(pairs) + 0.8), layout="constrained")
    grid = fig.subplots(len(pairs), len(warmups), squeeze=False)
    axes = {}
    for i, pair in enumerate(pairs):
        for j, warmup in enumerate(warmups):
            if (*pair, warmup) in panels:
                axes[(*pair, warmup)] = grid[i][j]
            else:
                grid[i][j].set_axis_off()
    fig.suptitle(title, fontsize=10)
    fig.supxlabel(board.provenance.short(), fontsize=6, color="dimgray")
    return fig, axes


def _save(fig: Figure, board: Leaderboard, path: Path, title: str) -> None:
    p = board.provenance
    fig.savefig(
        path,
        dpi=110,
        metadata={
            "Title": title,
            "Software": "pai-bench leaderboard (matplotlib)",
            "Description": " | ".join(line for line in p.lines() if not line.startswith(GENERATED)),
            "Creation Time": p.generated,
        },
    )


def _density_axis(ax: Axes, densities: Sequence[float]) -> None:
    """Log-scale remaining density, decreasing to the right (sparsity grows to the right)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log")
    ticks = sorted(set(densities))
    if ticks:
        ax.set_xlim(max(ticks) * 1.4, min(ticks) / 1.4)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.set_xticklabels([fmt_sparsity(d) for d in ticks], fontsize=7, rotation=45)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("remaining density 1 − s (log scale)", fontsize=8)


def _plot_panel(
    ax: Axes, board: Leaderboard, panel: tuple[str, str, int], style: dict[str, tuple[Any, str]]
) -> None:
    rows = board.panel_rows(panel)
    rows = rows[rows["n"].gt(0)].sort_values(["method", "sparsity"])
    for method, sub in rows.groupby("method", sort=True):
        color, marker = style[method]
        x, y = 1 - sub["sparsity"], 100 * sub["mean"]
        ax.errorbar(
            x,
            y,
            yerr=100 * sub["std"].fillna(0.0),
            color=color,
            marker=marker,
            markersize=5,
            capsize=3,
            linewidth=1.2,
            label=method,
        )
        open_ = ~sub["complete"]
        ax.plot(
            x[open_],
            y[open_],
            linestyle="none",
            marker=marker,
            markersize=5,
            markerfacecolor="white",
            markeredgecolor=color,
            zorder=4,
        )
        for xi, yi in zip(x[sub["collapsed"].gt(0)], y[sub["collapsed"].gt(0)]):
            ax.annotate("‡", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    dense = board.dense(*panel[:2])
    if dense is not None and dense["n"] > 0:
        mean, std = 100 * dense["mean"], 100 * (0 if pd.isna(dense["std"]) else dense["std"])
        ax.axhline(mean, color="black", linestyle="--", linewidth=1, label="dense")
        ax.axhspan(mean - std, mean + std, color="black", alpha=0.08, linewidth=0)
    _density_axis(ax, list(1 - rows["sparsity"]))
    ax.set_ylabel("test accuracy (%)", fontsize=8)
    ax.set_title(f"{panel[0]} / {panel[1]}, warm-up {panel[2]}", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)


def _legend(
    fig: Figure, style: dict[str, tuple[Any, str]], extra: Sequence[dict[str, Any]]
) -> None:
    """One legend for the figure: a line per method, then the `extra` entries (Line2D keywords)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, marker=m, label=name) for name, (c, m) in style.items()]
    handles += [Line2D([], [], **entry) for entry in extra]
    if handles:
        fig.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False)


def plot_accuracy(board: Leaderboard, path: Path) -> None:
    """Accuracy against remaining density (log), error bars = std, one panel per model ×
    dataset × warm-up, the dense baseline as a dashed line (band = its std); open markers are
    incomplete groups, ‡ groups with collapsed runs."""
    title = f"{METRICS[board.metric][1]} against remaining density"
    fig, axes = _figure(board, title)
    pruned = board.table[board.table["method"].ne(DENSE)]
    style = _style(sorted(pruned["method"].unique()))
    for panel, ax in axes.items():
        _plot_panel(ax, board, panel, style)
    extra = [
        {"color": "black", "linestyle": "--", "label": "dense baseline"},
        {
            "color": "grey",
            "marker": "o",
            "markerfacecolor": "white",
            "linestyle": "none",
            "label": "incomplete (†)",
        },
    ]
    _legend(fig, style, extra)
    _save(fig, board, path, title)


def _plot_layers(ax: Axes, layers: pd.DataFrame, style: dict[str, tuple[Any, str]]) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    names = layers.drop_duplicates("layer_index").sort_values("layer_index")["layer"].tolist()
    for method, sub in layers.groupby("method", sort=True):
        color, marker = style[method]
        sub = sub.sort_values("layer_index")
        density = sub["density"].where(sub["density"] > 0)
        ax.plot(
            sub["layer_index"],
            density,
            color=color,
            marker=marker,
            markersize=4,
            linewidth=1.1,
            label=method,
        )
        zero = sub["layer_index"][sub["density"].le(0)]
        ax.plot(
            zero,
            [0.02] * len(zero),
            transform=ax.get_xaxis_transform(),
            linestyle="none",
            marker="x",
            color=color,
            markersize=7,
        )
    sparsity = float(layers["sparsity"].iloc[0])
    ax.axhline(1 - sparsity, color="black", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    positive = layers["density"][layers["density"] > 0]
    narrow = len(positive) and positive.max() / positive.min() < 10  # label minor ticks too
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain if narrow else NullFormatter())
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_ylabel("layer density (kept / total, log)", fontsize=8)
    ax.set_title(f"sparsity {fmt_sparsity(sparsity)}", fontsize=9)
    ax.tick_params(axis="y", which="both", labelsize=7)
    ax.grid(True, alpha=0.3)


def plot_layer_density(board: Leaderboard, path: Path) -> None:
    """Per-layer density per method at the highest sparsity of each panel (mean over seeds);
    the dotted line is the overall density, × marks a layer with no weight kept (collapsed)."""
    title = "per-layer density at the highest sparsity (mean over seeds)"
    fig, axes = _figure(board, title)
    layers = board.layers
    style = _style(sorted(layers["method"].unique()))
    for panel, ax in axes.items():
        mask = (
            layers["model"].eq(panel[0])
            & layers["dataset"].eq(panel[1])
            & layers["warmup_epochs"].eq(panel[2])
        )
        if mask.any():
            _plot_layers(ax, layers[mask], style)
            ax.set_title(
                f"{panel[0]} / {panel[1]}, warm-up {panel[2]}, {ax.get_title()}", fontsize=9
            )
        else:
            ax.text(
                0.5,
                0.5,
                "no per-layer densities recorded",
                ha="center",
                va="center",
                transform=ax.transAxes,
                fontsize=8,
            )
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{panel[0]} / {panel[1]}, warm-up {panel[2]}", fontsize=9)
    extra = [
        {"color": "black", "linestyle": ":", "label": "overall density 1 − s"},
        {"color": "grey", "marker": "x", "linestyle": "none", "label": "collapsed (0)"},
    ]
    _legend(fig, style, extra)
    _save(fig, board, path, title)


# ------------------------------------------------------------------------------------ files


def write_leaderboard(board: Leaderboard, out: Path) -> dict[str, Path]:
    """Write the six files into `out` (created); returns them by kind."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in board.files.items()}
    texts = {
        "markdown": to_markdown(board),
        "csv": to_csv(board),
        "latex": to_latex(board),
        "html": to_html(board),
    }
    for kind, text in texts.items():
        paths[kind].write_text(text, encoding="utf-8", newline="\n")
    plot_accuracy(board, paths["accuracy"])
    plot_layer_density(board, paths["layers"])
    return paths


# -------------------------------------------------------------------------------------- CLI


def open_tracker(experiment: str, tracking_uri: str | None = None) -> Tracker:
    """The tracker of an existing experiment; a missing store or experiment is a ConfigError
    (never created, unlike `Tracker`)."""
    import mlflow
    from mlflow import MlflowClient

    from pai_bench.tracking import Tracker, store_path_hint

    uri = tracking_uri or mlflow.get_tracking_uri()
    hint = store_path_hint(uri)
    run_it = "run `pai-bench run SUITE.yaml` first"
    where = "or pass --tracking-uri (or set MLFLOW_TRACKING_URI) to the store that holds the runs"
    if uri.startswith("sqlite:///") and not Path(hint).exists():
        raise ConfigError(f"no tracking store at {hint} — {run_it}, {where}")
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None or found.lifecycle_stage != "active":
        names = sorted(e.name for e in client.search_experiments() if e.name != "Default")
        there = f" (experiments there: {', '.join(names[:10])})" if names else " (it is empty)"
        raise ConfigError(
            f"no experiment '{experiment}' in the tracking store {hint}{there} — {run_it}, {where}"
        )
    return Tracker(experiment, tracking_uri=uri)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``pai-bench leaderboard``."""
    parser.add_argument(
        "suite",
        type=Path,
        nargs="?",
        default=None,
        help="suite file whose runs to tabulate, e.g. suites/quickstart.yaml",
    )
    parser.add_argument(
        "--experiment",
        default=None,
        metavar="NAME",
        help="an MLflow experiment to tabulate without a suite file (then the "
        "planned seeds are the most any group attempted)",
    )
    add_suite_options(parser, set_help="the suite overrides the runs were made with (as for run)",
                      filter_help="only these runs of the suite, e.g. --filter warmup_epochs=0")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder (default: leaderboard/<suite name>)",
    )
    parser.add_argument(
        "--metric",
        choices=list(METRICS),
        default="final",
        help="final: test accuracy after the last epoch (default); best_val: "
        "test accuracy at the epoch of best validation accuracy",
    )
    parser.add_argument(
        "--reference",
        choices=sorted(REFERENCES),
        default=None,
        help="put a published table beside ours (fts_readme: the FTS "
        "repository's ResNet18 / CIFAR-10 README numbers)",
    )
    add_tracking_option(parser)


def _command(args: argparse.Namespace) -> str:
    """The command line that regenerates these tables (output folder and store left out)."""
    parts = ["pai-bench leaderboard"]
    parts.append(str(args.suite) if args.suite else f"--experiment {args.experiment}")
    if args.suite and args.experiment:
        parts.append(f"--experiment {args.experiment}")
    parts += [f"--set {item}" for item in args.set]
    parts += [f"--filter {args.filter}"] if args.filter else []
    parts.append(f"--metric {args.metric}")
    parts += [f"--reference {args.reference}"] if args.reference else []
    return " ".join(parts)


def _suite_of(args: argparse.Namespace) -> Suite | None:
    if args.suite is None:
        if args.experiment is None:
            raise ConfigError(
                "leaderboard: no suite — give a suite file (pai-bench leaderboard "
                "suites/quickstart.yaml) or --experiment NAME"
            )
        if args.set or args.filter:
            raise ConfigError(
                "leaderboard: --set and --filter apply to a suite file — give one, "
                "or drop them with --experiment"
            )
        return None
    return load_suite(args.suite, args.set, args.filter)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """``pai-bench leaderboard``: print the Markdown, write the six files."""
    from pai_bench.tracking import store_path_hint

    suite = _suite_of(args)
    experiment = args.experiment or (suite.name if suite is not None else "")
    tracker = open_tracker(experiment, args.tracking_uri)
    reference = get_reference(args.reference) if args.reference else None
    board = build_leaderboard(
        tracker, suite=suite, metric=args.metric, reference=reference, command=_command(args)
    )
    if board.provenance.finished + board.provenance.failed + board.provenance.unfinished == 0:
        what = "runs of this suite" if suite is not None else "pai-bench runs"
        raise ConfigError(
            f"experiment '{experiment}' in {store_path_hint(tracker.tracking_uri)} has no "
            f"{what} — run `pai-bench run {args.suite or 'SUITE.yaml'}` first"
        )
    out = args.out if args.out is not None else Path("leaderboard") / board.provenance.suite
    paths = write_leaderboard(board, out)
    print(paths["markdown"].read_text(encoding="utf-8"), end="")
    print(f"wrote {', '.join(p.name for p in paths.values())} to {out}", file=sys.stderr)
    return 0
