"""The LightningModule shared by every network: plain hyperparameters, evaluation-only mode."""

from __future__ import annotations

import pytest
import torch

from mlp_vs_cnn.models import ImageClassifier

MLP_CONFIG = {
    "_target_": "mlp_vs_cnn.models.MLP",
    "image_size": 28,
    "num_classes": 10,
    "hidden_sizes": [8],
}


def test_classifier_builds_its_network_from_a_config_and_keeps_it_as_plain_values():
    model = ImageClassifier(net=MLP_CONFIG)
    assert model.hparams["net"] == MLP_CONFIG
    assert model.num_parameters == 784 * 8 + 8 + 8 * 10 + 10
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_classifier_without_an_optimizer_can_only_evaluate():
    with pytest.raises(RuntimeError, match="without an optimizer"):
        ImageClassifier(net=MLP_CONFIG).configure_optimizers()


def test_classifier_with_a_scheduler_monitors_validation_accuracy():
    model = ImageClassifier(
        net=MLP_CONFIG,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
        scheduler=lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, 1),
    )
    config = model.configure_optimizers()
    assert config["lr_scheduler"]["monitor"] == "val/acc"
