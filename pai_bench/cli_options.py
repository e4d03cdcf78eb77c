"""Command-line options that several `pai-bench` commands share, each written once."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_suite_options(parser: argparse.ArgumentParser, *,
                      set_help: str = "override a suite field, e.g. --set training.epochs=3 "
                                      "(repeatable)",
                      filter_help: str = "only matching runs, e.g. --filter "
                                         "method=fts,sparsity=0.99") -> None:
    """--set and --filter: which runs of the suite file (`load_suite(path, set, filter)`)."""
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help=set_help)
    parser.add_argument("--filter", default=None, metavar="AXIS=VALUE,...", help=filter_help)


def add_tracking_option(parser: argparse.ArgumentParser) -> None:
    """--tracking-uri: the MLflow store."""
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else MLflow's "
                             "embedded store in the working directory)")


def add_device_options(parser: argparse.ArgumentParser) -> None:
    """--device and --data-dir: where runs compute and where data sets live."""
    parser.add_argument("--device", default=None,
                        help="cuda, cuda:1 or cpu (default: cuda if any)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where data sets live (default: $PAI_BENCH_DATA, else ./data)")
