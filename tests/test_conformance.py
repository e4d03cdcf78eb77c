"""Every registered method passes the shipped conformance checks."""

import pytest

from pai_bench.method import METHODS
from pai_bench.testing import CHECKS

TEN = [
    "fts",
    "snip",
    "grasp",
    "synflow",
    "magnitude",
    "random",
    "grad_norm",
    "fisher_diag",
    "fisher_pruning",
    "fbss",
]


def test_the_ten_methods_are_registered():
    assert set(TEN) <= set(METHODS.names())


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("method", METHODS.names())
def test_conformance(method, check):
    CHECKS[check](method)
