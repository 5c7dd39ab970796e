"""Drawing and writing figures: every figure names its run (its network, size, data and variant),
fits its own canvas and states its colour scale; the writer renders PNG at 150 dpi by default and
the other resolutions and formats asked for."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.models import ImageClassifier
from mlp_vs_cnn.visualize.activation_maximization import activation_figures
from mlp_vs_cnn.visualize.errors import error_figures
from mlp_vs_cnn.visualize.figures import FigureWriter, describe_run, grid_figure
from mlp_vs_cnn.visualize.samples import sample_figures
from mlp_vs_cnn.visualize.weights import weight_figures


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
