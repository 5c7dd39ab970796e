"""Activation maximisation does what it says: it raises the target class or unit."""

from __future__ import annotations

import torch

from mlp_vs_cnn.models import ConvNet
from mlp_vs_cnn.visualize.activation_maximization import class_log_prob, maximize, unit_activation


def test_activation_maximization_increases_the_target_class_log_probability():
    torch.manual_seed(0)
    net = ConvNet(image_size=28, num_classes=10, channels=[6, 8], hidden_sizes=[32]).eval()
    classes = torch.arange(10)
    objective = class_log_prob(net, classes)
    start = torch.zeros(10, 1, 28, 28)
    images = maximize(objective, start, steps=30)
    with torch.no_grad():
        before, after = objective(start), objective(images)
    assert (after > before).all()


def test_activation_maximization_increases_the_target_unit(fixture_data_dir):
    torch.manual_seed(0)
    net = ConvNet(image_size=28, num_classes=10, channels=[6, 8], hidden_sizes=[32]).eval()
    conv = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    units = torch.arange(4)
    objective = unit_activation(net, conv, units)
    start = 0.1 * torch.randn(4, 1, 28, 28)
    images = maximize(objective, start, steps=30)
    with torch.no_grad():
        before, after = objective(start), objective(images)
    assert (after > before).all()
