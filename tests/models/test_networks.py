"""The networks: published parameter counts, and every model config runs on 28x28 and 56x56."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from mlp_vs_cnn.models import MLP, ConvNet
from tests.conftest import MODEL_CONFIGS


def num_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("model", "data", "expected"),
    [
        ("mlp", "mnist", 40_785),
        ("fc_small", "mnist", 6_442),
        ("cnn_small", "mnist", 6_422),
        ("two_fc", "mnist_shifted", 314_710),
    ],
)
def test_model_configs_have_the_published_parameter_counts(compose_cfg, model, data, expected):
    cfg = compose_cfg(f"model={model}", f"data={data}")
    assert num_parameters(instantiate(cfg.model)) == expected


@pytest.mark.parametrize("data", ["mnist", "mnist_shifted"])
@pytest.mark.parametrize("model", MODEL_CONFIGS)
def test_every_model_config_forwards_the_image_size_of_its_data_config(compose_cfg, model, data):
    cfg = compose_cfg(f"model={model}", f"data={data}")
    size = cfg.data.image_size
    net = instantiate(cfg.model).eval()
    assert net(torch.zeros(3, 1, size, size)).shape == (3, 10)


def test_mlp_layers_follow_hidden_sizes():
    mlp = MLP(image_size=28, num_classes=10, hidden_sizes=[50, 25])
    linear = [m for m in mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(784, 50), (50, 25), (25, 10)]


def test_convnet_groups_and_dropout_follow_their_arguments():
    net = ConvNet(
        28,
        10,
        channels=[30, 30],
        groups=[1, 6],
        hidden_sizes=[100],
        conv_dropout=0.5,
        fc_dropout=0.5,
    )
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.groups for c in convs] == [1, 6]
    assert sum(isinstance(m, torch.nn.Dropout2d) for m in net.modules()) == 1
    assert sum(type(m) is torch.nn.Dropout for m in net.modules()) == 1


def test_convnet_refuses_images_too_small_for_its_layers():
    with pytest.raises(ValueError, match="too small"):
        ConvNet(image_size=12, num_classes=10, channels=[6, 6])


def test_convnet_refuses_groups_that_do_not_match_its_layers():
    with pytest.raises(ValueError, match="one entry per conv layer"):
        ConvNet(image_size=28, num_classes=10, channels=[6, 6], groups=[1])


@pytest.mark.parametrize(
    ("padding", "side"), [("valid", 52), ("same", 56), ("circular", 56), ("full", 60)]
)
def test_each_padding_gives_its_stated_output_size(padding, side):
    net = ConvNet(56, 2, [4], kernel_size=5, padding=padding)
    conv = net.features[0]
    assert conv(torch.zeros(1, 1, 56, 56)).shape[-2:] == (side, side)
    assert net(torch.zeros(3, 1, 56, 56)).shape == (3, 2)  # the head fits the pooled size


def test_circular_padding_is_exactly_equivariant_to_circular_shifts():
    torch.manual_seed(0)
    conv = ConvNet(28, 10, [6], padding="circular").features[0]
    x = torch.randn(2, 1, 28, 28, dtype=torch.float64)
    conv = conv.double()
    shifted = torch.roll(x, shifts=(3, -7), dims=(-2, -1))
    torch.testing.assert_close(
        conv(shifted), torch.roll(conv(x), shifts=(3, -7), dims=(-2, -1)), rtol=0, atol=1e-12
    )
    zero_padded = ConvNet(28, 10, [6], padding="same").features[0].double()
    zero_padded.load_state_dict(conv.state_dict())
    assert not torch.allclose(
        zero_padded(shifted), torch.roll(zero_padded(x), shifts=(3, -7), dims=(-2, -1))
    )


def test_a_padding_that_does_not_exist_or_an_even_kernel_that_same_cannot_keep_is_refused():
    with pytest.raises(ValueError, match="padding must be one of"):
        ConvNet(28, 10, [4], padding="reflect")
    with pytest.raises(ValueError, match="odd kernel_size"):
        ConvNet(28, 10, [4], kernel_size=4, padding="same")
