"""`pai-bench list` and `pai-bench score`: output, and one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from pai_bench.cli import main

TEN = ["fbss", "fisher_diag", "fisher_pruning", "fts", "grad_norm", "grasp", "magnitude",
       "random", "snip", "synflow"]


def test_list_methods_lists_the_ten(capsys):
    assert main(["list", "methods"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == TEN


def test_list_models_with_wildcard(capsys):
    assert main(["list", "models", "vgg*"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()][:4] == ["vgg11", "vgg13", "vgg16",
                                                                  "vgg19"]


def test_score_reports_layers_and_saves_masks(capsys, tmp_path):
    out_file = tmp_path / "masks.pt"
    code = main(["score", "--model", "tiny_cnn", "--dataset", "digits", "--method", "fts",
                 "--sparsity", "0.9", "--samples", "32", "--dataset-option", "size=8",
                 "--dataset-option", "channels=1", "--out", str(out_file), "--device", "cpu"])
    assert code == 0
    out = capsys.readouterr().out
    assert "0.weight" in out and "3.weight" in out and "achieved sparsity 0.9" in out
    assert "collapsed layers: 0" in out and "scoring:" in out and "peak memory" in out
    saved = torch.load(out_file)
    kept = sum(int(m.sum()) for m in saved["masks"].values())
    total = sum(m.numel() for m in saved["masks"].values())
    assert kept == total // 10  # int(0.1 · N) for N = 1,224


def test_score_flags_collapsed_layers(capsys):
    # per-layer scope at 0.99: the first conv (72 weights) keeps int(0.72) = 0 → collapsed
    code = main(["score", "--model", "tiny_cnn", "--dataset", "digits", "--method", "magnitude",
                 "--sparsity", "0.99", "--scope", "layer", "--dataset-option", "size=8",
                 "--dataset-option", "channels=1", "--device", "cpu"])
    assert code == 0
    out = capsys.readouterr().out
    assert "COLLAPSED" in out and "collapsed layers: 1 (0.weight)" in out
    # the first layer is empty, so nothing kept after it lies on an input-output path
    assert "effective sparsity 1.000000" in out


BAD = {
    "unknown method": (["--method", "snipp"], ["snipp", "did you mean 'snip'"]),
    "unknown model": (["--model", "vgg91"], ["vgg91", "did you mean"]),
    "unknown dataset": (["--dataset", "cifar11"], ["cifar11", "did you mean"]),
    "sparsity 1": (["--sparsity", "1.0"], ["1.0", "[0, 1)"]),
    "negative sparsity": (["--sparsity=-0.5"], ["-0.5", "[0, 1)"]),
    "bad option": (["--option", "mask_bach=2", "--method", "fts"], ["mask_bach", "mask_batch"]),
    "bad device": (["--device", "gpu0"], ["gpu0", "cpu, cuda or cuda:N"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2(case, capsys, tmp_path):
    args = {"--model": "tiny_cnn", "--dataset": "digits", "--method": "snip", "--sparsity": "0.9"}
    extra, expected = BAD[case]
    argv = ["score"]
    for k, v in args.items():
        if k not in extra and not any(e.startswith(k + "=") for e in extra):
            argv += [k, v]
    device = [] if "--device" in extra else ["--device", "cpu"]
    code = main([*argv, *extra, *device, "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    for text in expected:
        assert text in err


def test_missing_cifar_offline_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pai_bench", "score", "--model", "resnet20", "--dataset", "cifar10",
         "--method", "snip", "--sparsity", "0.9", "--data-dir", str(tmp_path / "nowhere"),
         "--dataset-option", "download=false"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert str(tmp_path / "nowhere") in lines[0] and "cifar-10" in lines[0].lower()
