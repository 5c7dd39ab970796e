"""What the first layer learned: its weight images carry a colour bar that states their scale."""

from __future__ import annotations

from mlp_vs_cnn.visualize.weights import weight_figures
from tests.visualize.test_figures import fixture_datamodule, small_classifier


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
