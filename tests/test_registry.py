"""The registry: loud duplicates, helpful misses, wildcards, and plug-ins from outside
distributions found through entry points."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

import pai_bench
from pai_bench.errors import PluginError, UnknownNameError
from pai_bench.method import METHODS
from pai_bench.registry import Registry


def test_register_get_names_and_duplicates():
    reg: Registry[int] = Registry("widget", group="pai_bench.test_widgets")
    reg.register("resnet18")(18)
    reg.register("resnet20")(20)
    reg.register("vgg19")(19)
    assert reg.get("vgg19") == 19
    assert reg.names("resnet*") == ["resnet18", "resnet20"]
    with pytest.raises(PluginError, match="already registered"):
        reg.register("vgg19")(190)
    with pytest.raises(UnknownNameError) as err:
        reg.get("resnet19")
    message = str(err.value)
    assert "did you mean 'resnet18'" in message and "vgg19" in message and "\n" not in message


def test_unknown_method_names_close_match():
    with pytest.raises(UnknownNameError, match="did you mean 'snip'"):
        METHODS.get("snp")


PLUGIN = '''
"""An outside method: half the magnitude (same ranking, different numbers)."""
from pai_bench.method import Method


class HalfMagnitude(Method):
    needs_data = False

    def score(self, ctx):
        return {n: p.detach().abs() / 2 for n, p in ctx.params.items()}
'''


def make_distribution(root, entry_points: str) -> None:
    (root / "outside_plugin.py").write_text(PLUGIN)
    info = root / "outside_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: outside-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture
def fresh_methods(monkeypatch):
    """METHODS with the built-ins loaded but entry points not yet scanned; restored afterwards."""
    METHODS.names()
    monkeypatch.setattr(METHODS, "_items", dict(METHODS._items))
    monkeypatch.setattr(METHODS, "_loaded", False)
    return METHODS


def test_outside_distribution_is_found_by_entry_point(tmp_path, monkeypatch, fresh_methods):
    make_distribution(
        tmp_path,
        """
        [pai_bench.methods]
        half_magnitude = outside_plugin:HalfMagnitude
    """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "half_magnitude" in fresh_methods.names()
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    scores = pai_bench.compute_scores("half_magnitude", model, None, input_shape=(4,))
    assert torch.equal(scores["0.weight"], model[0].weight.detach().abs() / 2)


def test_broken_plugin_is_one_warning(tmp_path, monkeypatch, fresh_methods):
    make_distribution(
        tmp_path,
        """
        [pai_bench.methods]
        broken = outside_plugin:DoesNotExist
    """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(UserWarning, match="skipping method plug-in 'broken'"):
        names = fresh_methods.names()
    assert "broken" not in names and "fts" in names


def test_cli_lists_outside_plugin(tmp_path):
    make_distribution(
        tmp_path,
        """
        [pai_bench.methods]
        half_magnitude = outside_plugin:HalfMagnitude
    """,
    )
    env_path = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "pai_bench", "list", "methods"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": ""},
        check=True,
    ).stdout
    assert "half_magnitude" in out and "fts" in out
