"""The LightningModule shared by every network: plain hyperparameters, evaluation-only mode,
its optimizer and scheduler handed to Lightning."""

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


def test_classifier_hands_its_optimizer_and_scheduler_mapping_to_lightning():
    # Automatic optimisation: Lightning steps the optimizer and the scheduler, as the mapping says.
    model = ImageClassifier(
        net=MLP_CONFIG,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1),
        lr_scheduler={
            "scheduler": lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, 1),
            "interval": "step",
            "frequency": 2,
        },
    )
    assert model.automatic_optimization
    config = model.configure_optimizers()
    scheduler = config["lr_scheduler"]
    assert isinstance(scheduler["scheduler"], torch.optim.lr_scheduler.StepLR)
    assert scheduler["scheduler"].optimizer is config["optimizer"]
    assert (scheduler["interval"], scheduler["frequency"]) == ("step", 2)


def test_a_diverging_loss_is_told_even_when_it_stays_finite(compose_cfg):
    from mlp_vs_cnn.training import train

    cfg = compose_cfg("debug=quick", "optimizer.lr=1e6", "logger=none",
                      "callbacks.activation_maximization=null")  # fmt: skip
    with pytest.warns(UserWarning, match="training is diverging. Lower optimizer.lr"):
        train(cfg)
