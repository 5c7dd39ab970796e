"""Multilayer perceptrons: their layers follow `hidden_sizes`."""

from __future__ import annotations

import torch

from mlp_vs_cnn.models import MLP


def test_mlp_layers_follow_hidden_sizes():
    mlp = MLP(image_size=28, num_classes=10, hidden_sizes=[50, 25])
    linear = [m for m in mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(784, 50), (50, 25), (25, 10)]
