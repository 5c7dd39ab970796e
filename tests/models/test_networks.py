"""The model configs of conf/model/: published parameter counts, and every one runs on 28x28 and
56x56."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

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
