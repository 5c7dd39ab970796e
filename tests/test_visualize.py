"""Visual diagnostics: each callback writes its figures to TensorBoard and PNG; activation
maximisation does what it says; the un-permuted view of permuted inputs is the original image."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.evaluation import visualize
from mlp_vs_cnn.models import ConvNet
from mlp_vs_cnn.training import train
from mlp_vs_cnn.visualize.activation_maximization import class_log_prob, maximize, unit_activation
from mlp_vs_cnn.visualize.figures import readable
from mlp_vs_cnn.visualize.samples import class_samples
from tests.conftest import CONFIG_DIR

# Small settings so that a whole run with every figure takes a few seconds.
QUICK_FIGURES = (
    "trainer.max_epochs=1",
    "callbacks.rich_progress_bar=null",
    "callbacks.rich_model_summary=null",
    "callbacks.sample_grids.draw.per_class=3",
    "callbacks.misclassified.draw.per_pair=3",
    "callbacks.activation_maximization.draw.steps=5",
    "callbacks.activation_maximization.draw.max_units=4",
)


def image_tags(run_dir: Path) -> set[str]:
    """The image tags of the TensorBoard event files under a run folder."""
    tags = set()
    for event_file in run_dir.rglob("events.out.tfevents.*"):
        events = EventAccumulator(str(event_file), size_guidance={"images": 0})
        events.Reload()
        tags.update(events.Tags()["images"])
    return tags


def png_tags(run_dir: Path) -> set[str]:
    figures = run_dir / "figures"
    return {str(p.relative_to(figures).with_suffix("")) for p in figures.rglob("*.png")}


@pytest.mark.parametrize(
    ("model", "data", "expected"),
    [
        (
            "mlp",
            "mnist_permuted",
            {"samples/unpermuted", "weights/first_layer_unpermuted"},
        ),
        ("lenet5", "fashion", set()),
        ("cnn_small", "fashion_block_shuffle", {"samples/unpermuted"}),
    ],
)
def test_every_callback_writes_its_figures_to_tensorboard_and_png(
    compose_cfg, model, data, expected
):
    cfg = compose_cfg(f"model={model}", f"data={data}", *QUICK_FIGURES)
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    expected = expected | {
        "samples/model_input",
        "samples/flattened",
        "errors/confusion_matrix",
        "errors/misclassified",
        "weights/first_layer",
        "activations/classes",
        "activations/units",
    }
    assert image_tags(run_dir) == expected
    assert png_tags(run_dir) == expected


def test_no_figures_under_fast_dev_run(compose_cfg):
    cfg = compose_cfg("model=mlp", "data=mnist", "debug=fast_dev_run")
    train(cfg)
    assert not (Path(cfg.paths.output_dir) / "figures").exists()


@pytest.mark.parametrize(
    "scope",
    [
        dict(),
        dict(permutation_scope="within_blocks", block_size=4),
        dict(permutation_scope="blocks", block_size=7),
    ],
)
def test_unpermuted_view_of_permuted_samples_equals_the_original_images(fixture_data_dir, scope):
    common = dict(dataset="MNIST", data_dir=str(fixture_data_dir), download=False, val_size=100)
    original = ImageDataModule(**common)
    permuted = ImageDataModule(**common, permutation_seed=7, **scope)
    original_images, original_index = class_samples(original, per_class=4)
    permuted_images, permuted_index = class_samples(permuted, per_class=4)
    assert torch.equal(original_index, permuted_index)
    assert not torch.equal(permuted_images, original_images)
    assert torch.equal(readable(permuted_images, permuted.permutation), original_images)


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


def test_visualize_writes_the_figures_of_a_checkpoint(compose_cfg):
    cfg = compose_cfg(
        "model=mlp", "data=mnist_permuted", *QUICK_FIGURES, "callbacks.activation_maximization=null"
    )
    train(cfg)
    checkpoint = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    out = Path(cfg.paths.output_dir).parent / "visualize"
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        overrides = [
            f"ckpt_path={checkpoint}",
            f"paths.data_dir={cfg.paths.data_dir}",
            f"hydra.runtime.output_dir={out}",
            "what=[sample_grids,first_layer_weights]",
        ]
        visualize_cfg = compose("visualize", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(visualize_cfg)
    visualize(visualize_cfg)
    expected = {
        "samples/model_input",
        "samples/unpermuted",
        "samples/flattened",
        "weights/first_layer",
        "weights/first_layer_unpermuted",
    }
    assert png_tags(out) == expected
    assert image_tags(out) == expected
