"""Critical compression: the bisection of iterative methods and the scan of one-shot ones agree
with a brute-force scan of every grid point; the command writes its table, data and plot."""

from __future__ import annotations

import pytest

from pai_bench import prune
from pai_bench.cli import main
from pai_bench.collapse import critical_compression, grid, sparsity_of
from pai_bench.data import load_dataset
from pai_bench.masks import collapsed_layers
from pai_bench.models import build_model, classifier_of


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", size=8, channels=1)


def brute_force(method: str, digits, seed: int, init: str = "default",
                prune_classifier: bool = False, **options) -> float:
    import torch

    from pai_bench.data.sampling import scoring_batches
    from pai_bench.models.init import initialize

    torch.manual_seed(seed)
    model = initialize(build_model("tiny_cnn", num_classes=10, input_shape=digits.input_shape),
                       init)
    batches = scoring_batches(digits, samples=100, batch_size=100, seed=seed, device="cpu")
    last = 0.0
    for c in grid(3.0, 0.25):
        masks = prune(method, model, batches, sparsity_of(c), input_shape=digits.input_shape,
                      prune_classifier=prune_classifier, **options).masks
        if collapsed_layers(masks):
            break
        last = c
    return last


@pytest.mark.parametrize(("method", "options"), [("snip", {}), ("magnitude", {}),
                                                 ("synflow", {"rounds": 5})])
def test_critical_compression_equals_brute_force(digits, method, options):
    got = critical_compression(method, "tiny_cnn", digits, seed=0, max_log10=3.0, **options)
    assert got.log10_critical == brute_force(method, digits, 0, **options)
    if method == "synflow":
        assert len(got.points) < len(grid(3.0, 0.25))  # bisection, not a scan


@pytest.mark.parametrize(("method", "options"), [("snip", {}), ("synflow", {"rounds": 5})])
def test_the_synflow_papers_setup_equals_brute_force(digits, method, options):
    """--init kaiming_normal --prune-classifier: the classifier is among the layers checked."""
    setup = {"init": "kaiming_normal", "prune_classifier": True}
    got = critical_compression(method, "tiny_cnn", digits, seed=1, max_log10=3.0, **setup,
                               **options)
    assert got.log10_critical == brute_force(method, digits, 1, **setup, **options)
    model = build_model("tiny_cnn", num_classes=10, input_shape=digits.input_shape)
    head = classifier_of(model).weight
    classifier = next(n for n, p in model.named_parameters() if p is head)
    assert all(classifier in p.densities for p in got.points)
    default = critical_compression(method, "tiny_cnn", digits, seed=1, max_log10=3.0, **options)
    assert all(classifier not in p.densities for p in default.points)


def test_collapse_command_writes_report(tmp_path, capsys):
    code = main(["collapse", "--model", "tiny_cnn", "--dataset", "digits", "--dataset-option",
                 "size=8", "--dataset-option", "channels=1", "--methods", "magnitude,synflow",
                 "--seeds", "0", "--max", "3", "--rounds", "5", "--out", str(tmp_path),
                 "--device", "cpu", "--option", "bias_flow=false"])
    assert code == 0
    table = (tmp_path / "collapse.md").read_text()
    assert "options {'bias_flow': False}" in table  # given to synflow, ignored by magnitude
    assert "| magnitude | 10^" in table and "| synflow | 10^" in table
    assert (tmp_path / "collapse.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "synflow,0," in (tmp_path / "collapse.csv").read_text()
    assert main(["collapse", "--model", "tiny_cnn", "--dataset", "digits",
                 "--methods", "snipp", "--device", "cpu"]) == 2
    assert "did you mean 'snip'" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "message"), [
    (["--seeds", "0,a"], "--seeds '0,a': use comma-separated integers"),
    (["--step", "0"], "needs max >= 0 and step > 0"),
    (["--max", "-1"], "needs max >= 0 and step > 0"),
])
def test_bad_collapse_flags_are_one_line(flags, message, capsys):
    code = main(["collapse", "--model", "tiny_cnn", "--dataset", "digits", "--device", "cpu",
                 *flags])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
