"""Published numbers to show beside ours, labelled as reported by their authors, never as measured.

One table so far, ``fts_readme``: the ResNet18 / CIFAR-10 test accuracies (%, mean ± std over the
seeds 0, 42 and 123) in the README of the FTS paper's repository, Gollini/Fisher_Taylor_Sensitivity
(arXiv 2502.11450), as transcribed in ``shared/reference/PROTOCOL.md``. Its "GraSP" column is that
code's inverted selection (it keeps the largest −θ⊙Hg), which is not Wang et al.'s GraSP: it is
keyed ``grasp_inverted`` here so that it never lines up with our ``grasp``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from pai_bench.errors import ConfigError

__all__ = ["FTS_README", "REFERENCES", "ReferenceTable", "get_reference"]


@dataclass(frozen=True)
class ReferenceTable:
    """A published table: rows = sparsity, columns = methods, cells = (mean, std) in %."""

    name: str
    source: str  # who reported it, for the label "reported by ..., not measured here"
    model: str  # our registry names, to find the comparable runs
    dataset: str
    description: str  # what the numbers are (metric, seeds, unknowns)
    columns: tuple[tuple[str, str], ...]  # (method key, column label)
    rows: tuple[tuple[float, tuple[tuple[float, float], ...]], ...]  # (sparsity, cells)
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The one-line label every rendering of the table carries."""
        return f"reported by {self.source}, not measured here"

    def cells(self) -> dict[tuple[float, str], tuple[float, float]]:
        """{(sparsity, method key): (mean %, std %)}."""
        keys = [key for key, _ in self.columns]
        return {(s, key): cell for s, cells in self.rows for key, cell in zip(keys, cells)}


def _parse_row(text: str) -> tuple[tuple[float, float], ...]:
    """``"90.78±0.08 | 91.10±0.12"`` → ((90.78, 0.08), (91.10, 0.12))."""
    pairs = (cell.strip().split("±") for cell in text.split("|"))
    return tuple((float(mean), float(std)) for mean, std in pairs)


# Transcribed from PROTOCOL.md ("Reported numbers: FTS repository README"), column for column.
_FTS_ROWS = {
    0.80: "90.78±0.08 | 91.10±0.12 | 90.95±0.35 | 90.74±0.10 | 87.18±0.51 | 90.95±0.11 | "
    "91.08±0.06 | 90.94±0.22 | 90.73±0.33",
    0.90: "89.35±0.13 | 89.88±0.28 | 90.39±0.23 | 90.36±0.34 | 86.60±0.51 | 90.04±0.21 | "
    "90.20±0.08 | 90.55±0.23 | 89.22±0.30",
    0.95: "87.59±0.11 | 89.23±0.19 | 89.00±0.05 | 89.31±0.17 | 86.50±0.05 | 88.61±0.28 | "
    "89.50±0.18 | 89.47±0.32 | 87.58±0.25",
    0.98: "83.47±0.20 | 85.70±0.33 | 86.43±0.05 | 87.26±0.28 | 85.99±0.08 | 85.61±0.20 | "
    "86.97±0.22 | 87.24±0.32 | 83.40±0.74",
    0.99: "78.28±0.45 | 71.99±0.28 | 83.47±0.15 | 84.54±0.04 | 84.56±0.46 | 82.13±0.28 | "
    "83.74±0.48 | 84.85±0.18 | 77.60±1.02",
}

FTS_README = ReferenceTable(
    name="fts_readme",
    source="the FTS repository (Gollini/Fisher_Taylor_Sensitivity README)",
    model="resnet18",
    dataset="cifar10",
    description=(
        "ResNet18 / CIFAR-10, test accuracy (%), mean ± std over 3 seeds (0, 42, 123), 160 epochs; "
        "whether final-epoch or best-validation accuracy is not stated; warm-up and mask batch "
        "not stated (their configs imply warm-up 0, mask batch 1)"
    ),
    columns=(
        ("random", "random"),
        ("magnitude", "magnitude"),
        ("grad_norm", "grad_norm (GN)"),
        ("snip", "snip"),
        ("grasp_inverted", "GraSP inverted*"),
        ("fisher_diag", "fisher_diag (FD)"),
        ("fisher_pruning", "fisher_pruning (FP)"),
        ("fts", "fts"),
        ("fbss", "fbss"),
    ),
    rows=tuple((s, _parse_row(text)) for s, text in _FTS_ROWS.items()),
    notes=(
        "GraSP inverted*: their GraSP variant; the FTS code keeps the largest −θ⊙Hg (inverted "
        "selection), which is neither Wang et al.'s GraSP nor our grasp.",
    ),
)

REFERENCES: dict[str, ReferenceTable] = {FTS_README.name: FTS_README}


def get_reference(name: str) -> ReferenceTable:
    """The reference table called `name`; a miss is a one-line `ConfigError` listing the names."""
    try:
        return REFERENCES[name]
    except KeyError:
        close = difflib.get_close_matches(name, REFERENCES, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(
            f"--reference {name!r}: no such reference table — {hint}known: "
            f"{', '.join(sorted(REFERENCES))}"
        ) from None
