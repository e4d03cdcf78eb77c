"""Tests for pai_bench.models: exact sizes of the paper's models, every registered model builds and
runs, timm names, name errors, the classifier lookup."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pai_bench.errors import ConfigError, PluginError, UnknownNameError
from pai_bench.models import MODELS, build_model, classifier_of

SMALL_INPUT_MODELS = ["mlp", "tiny_cnn", "small_cnn", "resnet18", "resnet20"]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "expected"),
    [("resnet18", 11_173_962), ("vgg19", 20_040_522), ("resnet20", 272_474)],
)
def test_parameter_counts_match_the_protocol(name: str, expected: int) -> None:
    model = build_model(name, num_classes=10, input_shape=(3, 32, 32))
    assert n_params(model) == expected


def test_builtin_names_are_registered() -> None:
    expected = {"resnet18", "resnet20", "vgg11", "vgg13", "vgg16", "vgg19", "mlp", "tiny_cnn"}
    assert expected | {"small_cnn"} <= set(MODELS.names())
    assert MODELS.names("vgg*") == ["vgg11", "vgg13", "vgg16", "vgg19"]


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_forwards_a_cifar_batch(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=10, input_shape=(3, 32, 32))
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", SMALL_INPUT_MODELS)
def test_small_nets_and_resnets_take_one_channel_8x8(name: str) -> None:
    model = build_model(name, num_classes=7, input_shape=(1, 8, 8))
    with torch.no_grad():
        assert model(torch.randn(2, 1, 8, 8)).shape == (2, 7)


def test_small_cnn_size_is_small() -> None:
    assert (
        5_000 <= n_params(build_model("small_cnn", num_classes=10, input_shape=(1, 8, 8))) <= 60_000
    )


def test_small_nets_use_only_conv_linear_bn() -> None:
    allowed = (
        nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AdaptiveAvgPool2d,
        nn.Flatten, nn.Sequential,
    )  # fmt: skip
    for name in ("mlp", "tiny_cnn", "small_cnn"):
        model = build_model(name, num_classes=10, input_shape=(1, 8, 8))
        assert all(isinstance(m, allowed) for m in model.modules()), name


def test_timm_model_with_one_channel() -> None:
    model = build_model("timm:resnet10t", num_classes=10, input_shape=(1, 32, 32))
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    assert classifier_of(model) is model.get_classifier()


def test_unknown_timm_name_suggests_a_close_match() -> None:
    with pytest.raises(UnknownNameError) as info:
        build_model("timm:resnet10x", num_classes=10, input_shape=(3, 32, 32))
    message = str(info.value)
    assert "\n" not in message
    assert "timm:resnet10t" in message


def test_unknown_model_name_suggests_a_close_match() -> None:
    with pytest.raises(UnknownNameError) as info:
        build_model("resnet19", num_classes=10, input_shape=(3, 32, 32))
    assert "resnet18" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("num_classes", "input_shape"), [(0, (3, 32, 32)), (10, (3, 32)), (10, (3, 0, 32))]
)
def test_bad_sizes_are_config_errors(num_classes: int, input_shape: tuple) -> None:
    with pytest.raises(ConfigError):
        build_model("mlp", num_classes=num_classes, input_shape=input_shape)


def test_classifier_of_finds_the_output_layer() -> None:
    resnet = build_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
    assert classifier_of(resnet) is resnet.fc
    vgg = build_model("vgg19", num_classes=10, input_shape=(3, 32, 32))
    assert classifier_of(vgg) is vgg.classifier
    assert isinstance(vgg.classifier, nn.Linear) and vgg.classifier.in_features == 512
    mlp = build_model("mlp", num_classes=10, input_shape=(1, 8, 8))
    assert classifier_of(mlp) is mlp[-1]
    with pytest.raises(PluginError):
        classifier_of(nn.Sequential(nn.Conv2d(1, 2, 3)))


@pytest.mark.parametrize("name", ["vgg11", "vgg19"])
def test_vgg_on_8x8_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_model(name, num_classes=10, input_shape=(1, 8, 8))
    message = str(info.value)
    assert "\n" not in message and "32" in message


def test_protocol_architecture_details() -> None:
    resnet = build_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
    assert resnet.conv1.kernel_size == (3, 3) and resnet.conv1.bias is None
    assert not any(isinstance(m, nn.MaxPool2d) for m in resnet.modules())
    vgg = build_model("vgg19", num_classes=10, input_shape=(3, 32, 32))
    convs = [m for m in vgg.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 16 and all(c.bias is not None for c in convs)
    assert not any(isinstance(m, nn.Dropout) for m in vgg.modules())
    assert sum(isinstance(m, nn.Linear) for m in vgg.modules()) == 1
