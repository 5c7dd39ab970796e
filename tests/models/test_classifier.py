"""The LightningModule shared by every network: plain hyperparameters, evaluation-only mode,
its own optimizer steps."""

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


def test_classifier_steps_itself_and_hands_its_scheduler_to_lightning():
    # Manual optimisation: the classifier steps the optimizer per `batch_size` images and the
    # epoch schedulers itself (tests/test_steps_per_batch.py trains with both).
    model = ImageClassifier(
        net=MLP_CONFIG,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
        scheduler=lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, 1),
        batch_size=32,
    )
    assert not model.automatic_optimization and model.step_batch_size == 32
    config = model.configure_optimizers()
    assert isinstance(config["lr_scheduler"], torch.optim.lr_scheduler.StepLR)
    assert config["lr_scheduler"].optimizer is config["optimizer"]
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        ImageClassifier(net=MLP_CONFIG, batch_size=0)
