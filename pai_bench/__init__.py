"""pai-bench: a benchmark suite for pruning at initialization.

The stable Python API: `compute_scores`, `compute_masks` and `prune` (scores and masks for any
registered method), the registries `METHODS`, `MODELS`, `DATASETS`, and `Method` /
`register_method` for writing a plug-in.
"""

from pathlib import Path as _Path

# The built-in methods live in the top-level methods/ folder and install as pai_bench.methods
# (pyproject's package-dir). Imported from a source tree that is not installed, find them there.
_source_methods = _Path(__file__).resolve().parent.parent / "methods"
if (_source_methods / "__init__.py").is_file():
    __path__.append(str(_source_methods.parent))  # type: ignore[name-defined]  # noqa: F821

from pai_bench.errors import ConfigError, DataError, PaiBenchError, UnknownNameError  # noqa: E402
from pai_bench.method import METHODS, Method, ScoringContext, register_method  # noqa: E402
from pai_bench.scoring import PruneResult, compute_masks, compute_scores, prune  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "ConfigError",
    "DataError",
    "Method",
    "PaiBenchError",
    "PruneResult",
    "ScoringContext",
    "UnknownNameError",
    "compute_masks",
    "compute_scores",
    "prune",
    "register_method",
]
