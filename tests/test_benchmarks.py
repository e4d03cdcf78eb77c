"""The benchmark scripts run (tiny sizes, CPU) and print the figures they promise; their timings
are not asserted here: a ratio means something only at full size, printed by the script itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

CASES = {
    "fisher_cost.py": (["--model", "resnet20", "--samples", "16", "--batch-size", "8",
                        "--repeats", "1"], [r"ratio FTS / forward\+backward: ([\d.]+)",
                                            r"ratio loop / FTS: +([\d.]+)"]),
    "harness_overhead.py": (["--model", "tiny_cnn", "--images", "256", "--repeats", "1"],
                            [r"ratio harness / bare: +([\d.]+)"]),
    "gpu_epoch.py": (["--device", "cpu", "--models", "tiny_cnn", "--images", "256",
                      "--batch-size", "64", "--workers", "0", "--no-record"],
                     [r"\| tiny_cnn \| device \(pai-bench\) \| ([\d.]+) \|",
                      r"\| tiny_cnn \| torchvision DataLoader \| ([\d.]+) \|"]),
}


@pytest.mark.parametrize("script", list(CASES))
def test_benchmark_script_prints_its_figures(script):
    args, patterns = CASES[script]
    out = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    for pattern in patterns:
        match = re.search(pattern, out)
        assert match, f"{pattern!r} not in:\n{out}"
        assert float(match.group(1)) > 0
