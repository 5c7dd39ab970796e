"""Visual diagnostics: each callback writes its figures to TensorBoard and PNG; activation
maximisation does what it says; the un-permuted view of permuted inputs is the original image;
every figure names its run, fits its own canvas, states its colour scale, and is written at the
resolution and in the formats asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from matplotlib.figure import Figure
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.evaluation import visualize
from mlp_vs_cnn.models import ConvNet, ImageClassifier
from mlp_vs_cnn.training import train
from mlp_vs_cnn.visualize.activation_maximization import (
    activation_figures,
    class_log_prob,
    maximize,
    unit_activation,
)
from mlp_vs_cnn.visualize.errors import error_figures
from mlp_vs_cnn.visualize.figures import FigureWriter, describe_run, grid_figure, readable
from mlp_vs_cnn.visualize.samples import class_samples, sample_figures
from mlp_vs_cnn.visualize.weights import weight_figures
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
    # in TensorBoard under one group, listed after the scalars' groups (test, time, train, val)
    assert image_tags(run_dir) == {f"visuals/{tag}" for tag in expected}
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
    assert image_tags(out) == {f"visuals/{tag}" for tag in expected}


def small_classifier(net: str, **net_options) -> ImageClassifier:
    """An untrained classifier of the fixture's 10 classes (figures do not need a trained net)."""
    torch.manual_seed(0)
    config = {"_target_": f"mlp_vs_cnn.models.{net}", "num_classes": 10, **net_options}
    return ImageClassifier(config)


def fixture_datamodule(fixture_data_dir, **options) -> ImageDataModule:
    return ImageDataModule(
        data_dir=str(fixture_data_dir),
        download=False,
        val_size=100,
        **{"dataset": "MNIST", **options},
    )


def all_figures(model, datamodule, **context) -> dict[str, Figure]:
    """Every figure of the four figure functions, small settings."""
    return {
        **sample_figures(model, datamodule, per_class=3, **context),
        **error_figures(model, datamodule, top_pairs=3, per_pair=3, **context),
        **weight_figures(model, datamodule, **context),
        **activation_figures(model, datamodule, steps=2, max_units=4, **context),
    }


def test_a_run_is_described_by_its_network_size_data_and_variant(fixture_data_dir):
    lenet = small_classifier("ConvNet", image_size=56, channels=[20, 50], hidden_sizes=[500])
    shifted = fixture_datamodule(
        fixture_data_dir,
        canvas_size=56,
        image_size=56,
        train_placement="center",
        eval_placement="random",
    )
    parameters = sum(p.numel() for p in lenet.net.parameters())
    assert describe_run(lenet, shifted) == (
        f"ConvNet (conv 20-50, fc 500, {parameters:,} parameters) on MNIST, shifted on a 56x56 "
        "canvas (trained centred, tested at random positions)"
    )
    mlp = small_classifier("MLP", image_size=28, hidden_sizes=[16])
    permuted = fixture_datamodule(fixture_data_dir, dataset="FashionMNIST", permutation_seed=7)
    assert describe_run(mlp.net, permuted) == (
        "MLP (fc 16, 12,730 parameters) on Fashion-MNIST, permuted pixels (permutation seed 7)"
    )
    assert describe_run(None, fixture_datamodule(fixture_data_dir)) == "MNIST, original 28x28"


FASHION = {
    "dataset": "FashionMNIST",
    "class_names": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt"]
    + ["Sneaker", "Bag", "Ankle boot"],
}


@pytest.mark.parametrize(
    ("net", "options", "data"),
    [
        ("MLP", {"hidden_sizes": [16]}, {"permutation_seed": 7}),
        (
            "ConvNet",
            {"channels": [20, 8], "hidden_sizes": [16]},
            {**FASHION, "permutation_seed": 7},
        ),
        ("ConvNet", {"channels": [6, 8], "hidden_sizes": [16]}, {"canvas_size": 56}),
    ],
)
def test_every_figure_names_its_run_and_fits_its_own_canvas(fixture_data_dir, net, options, data):
    side = data.get("canvas_size", 28)
    model = small_classifier(net, **{"image_size": side, **options})
    datamodule = fixture_datamodule(fixture_data_dir, image_size=side, **data)
    figures = all_figures(model, datamodule)
    assert {"samples/model_input", "weights/first_layer", "activations/units"} <= set(figures)
    run = describe_run(model, datamodule)
    for tag, fig in figures.items():
        title = fig.get_suptitle()
        # Wrapping may break the description across lines, not change it.
        assert " ".join(title.split()).endswith(run), tag
        fig.canvas.draw()
        drawn = fig.get_tightbbox(fig.canvas.get_renderer())
        width, height = fig.get_size_inches()
        # Nothing clipped at the figure's own size: no label, title or colour bar reaches
        # past an edge (a hundredth of an inch of slack for rounding).
        assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01, tag
        assert drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, tag


def test_a_context_given_by_the_caller_replaces_the_derived_description(fixture_data_dir):
    model = small_classifier("MLP", image_size=28, hidden_sizes=[16])
    datamodule = fixture_datamodule(fixture_data_dir)
    for tag, fig in all_figures(model, datamodule, context="mlp on mnist").items():
        assert fig.get_suptitle().endswith("\nmlp on mnist"), tag
        assert "parameters" not in fig.get_suptitle(), tag


def test_weight_images_carry_a_colour_bar_that_states_their_scale(fixture_data_dir):
    model = small_classifier("ConvNet", image_size=28, channels=[20, 8], hidden_sizes=[16])
    weight = model.net.features[0].weight.detach()
    largest = weight[:, 0].abs().amax(dim=(1, 2))
    fig = weight_figures(model, fixture_datamodule(fixture_data_dir))["weights/first_layer"]
    image_axes, colour_bar = fig.axes
    assert "kernels of 5x5" in fig.get_suptitle()
    assert colour_bar.get_xlabel() == (
        "weight ÷ max |weight| of its image "
        f"(max |weight|: {largest.min():.2g} to {largest.max():.2g})"
    )
    assert [t.get_text() for t in colour_bar.get_xticklabels()] == ["−max", "0", "+max"]
    assert image_axes.images[0].get_clim() == (-1.0, 1.0)


def test_a_grid_on_one_scale_has_a_colour_bar_in_the_units_of_its_images():
    images = torch.linspace(-0.5, 2.5, 4 * 28 * 28).view(4, 28, 28)
    fig = grid_figure(images, 2, "inputs", colorbar="model input")
    image_axes, colour_bar = fig.axes
    assert image_axes.images[0].get_clim() == pytest.approx((-0.5, 2.5))
    assert colour_bar.get_xlabel() == "model input"


def test_conv_kernels_are_drawn_large_enough_to_read(tmp_path):
    kernels = torch.randn(20, 5, 5)
    fig = grid_figure(kernels, 10, "kernels", scale="each", symmetric=True, colorbar="weight")
    (path,) = FigureWriter(tmp_path).write({"kernels": fig})
    width, height = Image.open(path).size
    # 10 kernels a row: at least 0.6 inch each at 150 dpi (the old figure was 442x137 pixels).
    assert width >= 10 * 0.6 * 150 and height >= 2 * 0.6 * 150


def test_figure_writer_writes_png_at_150_dpi_by_default_and_pdf_on_request(tmp_path):
    def figure() -> Figure:
        return grid_figure(torch.rand(6, 28, 28), 3, "six images", colorbar="pixel value")

    (screen,) = FigureWriter(tmp_path / "screen").write({"samples/grid": figure()})
    assert screen == tmp_path / "screen" / "samples" / "grid.png"
    assert Image.open(screen).info["dpi"] == pytest.approx((150, 150), abs=0.1)
    assert not screen.with_suffix(".pdf").exists()

    writer = FigureWriter(tmp_path / "paper", formats=["png", "pdf"], dpi=300)
    png, pdf = writer.write({"samples/grid": figure()})
    assert (png, pdf) == (tmp_path / "paper/samples/grid.png", tmp_path / "paper/samples/grid.pdf")
    assert Image.open(png).info["dpi"] == pytest.approx((300, 300), abs=0.1)
    # Twice the dpi, twice the pixels (cropping to the contents may differ by a pixel or two).
    doubled = tuple(2 * n for n in Image.open(screen).size)
    assert Image.open(png).size == pytest.approx(doubled, abs=4)
    assert pdf.read_bytes().startswith(b"%PDF")

    (only_pdf,) = FigureWriter(tmp_path / "pdf", formats="pdf").write({"grid": figure()})
    assert only_pdf == tmp_path / "pdf" / "grid.pdf" and only_pdf.read_bytes().startswith(b"%PDF")


def test_an_unknown_figure_format_is_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"figure formats must be among \('png', 'pdf'\)"):
        FigureWriter(tmp_path, formats=("png", "jpg"))


def test_figure_formats_asks_the_figure_callbacks_for_pdf_files(compose_cfg):
    fewer = ("callbacks.activation_maximization=null", "callbacks.misclassified=null")
    cfg = compose_cfg(*QUICK_FIGURES, *fewer, "figure_formats=[png,pdf]", "logger=none")
    train(cfg)
    figures = Path(cfg.paths.output_dir) / "figures"
    for stem in ("weights/first_layer", "samples/model_input"):
        assert (figures / f"{stem}.png").is_file() and (figures / f"{stem}.pdf").is_file()
        assert (figures / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
