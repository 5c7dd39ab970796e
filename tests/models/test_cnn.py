"""Convolutional networks: groups, dropout and padding follow their arguments; sizes they cannot
take are refused."""

from __future__ import annotations

import pytest
import torch

from mlp_vs_cnn.models import ConvNet
from mlp_vs_cnn.models.cnn import BlurPool2d


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


@pytest.mark.parametrize("antialias", [False, True])
def test_pooling_before_the_relu_changes_nothing(antialias):
    """Each block pools before its ReLU and dropout; the textbook order (ReLU, dropout, then
    pool) gives the same outputs and the same gradients, dropout masks included."""
    torch.manual_seed(0)
    net = ConvNet(28, 10, [6, 8], hidden_sizes=[20], conv_dropout=0.5, antialias=antialias)
    net = net.double().train()
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    blurs = [m for m in net.features if isinstance(m, BlurPool2d)]

    def relu_first(x):
        for i, conv in enumerate(convs):
            x = torch.relu(conv(x))
            if i > 0:
                x = torch.nn.functional.dropout2d(x, 0.5, training=True)
            x = torch.nn.functional.max_pool2d(x, 2, stride=1 if antialias else 2)
            if antialias:
                x = blurs[i](x)
        return net.classifier(x)

    x = torch.randn(4, 1, 28, 28, dtype=torch.float64)
    outputs, grads = [], []
    for forward in (net, relu_first):
        net.zero_grad()
        torch.manual_seed(1)
        out = forward(x)
        out.square().sum().backward()
        outputs.append(out.detach())
        grads.append([p.grad.clone() for p in net.parameters()])
    assert torch.equal(*outputs)
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))
    assert any(g.abs().sum() > 0 for g in grads[0])
