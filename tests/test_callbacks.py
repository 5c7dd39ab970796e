"""The Lightning callbacks of a run: each figure callback writes its figures to TensorBoard and PNG
(and PDF when asked), none under fast_dev_run; the locality callback logs and records an MLP's
first layer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlp_vs_cnn.callbacks import FirstLayerLocality
from mlp_vs_cnn.errors import ConfigError
from mlp_vs_cnn.training import train

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


def test_figure_formats_asks_the_figure_callbacks_for_pdf_files(compose_cfg):
    fewer = ("callbacks.activation_maximization=null", "callbacks.misclassified=null")
    cfg = compose_cfg(*QUICK_FIGURES, *fewer, "figure_formats=[png,pdf]", "logger=none")
    train(cfg)
    figures = Path(cfg.paths.output_dir) / "figures"
    for stem in ("weights/first_layer", "samples/model_input"):
        assert (figures / f"{stem}.png").is_file() and (figures / f"{stem}.pdf").is_file()
        assert (figures / f"{stem}.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(("model", "data"), [("two_fc", "mnist_permuted"), ("lenet5", "mnist")])
def test_a_run_with_the_locality_callback_logs_and_records_an_mlps_first_layer(
    compose_cfg, model, data
):
    cfg = compose_cfg(
        f"model={model}", f"data={data}", "callbacks=locality", "optimizer=beta_lasso",
        "optimizer.l1=3e-4", "trainer.max_epochs=1", "logger=none", "debug=quick",
    )  # fmt: skip
    metrics = train(cfg)
    record = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    if model == "lenet5":  # a conv net's kernels are local by construction: nothing measured
        assert "first_layer/locality" not in metrics and "first_layer" not in record
        return
    section = record["first_layer"]
    assert 0 < metrics["first_layer/locality"] <= 1
    assert 0 < metrics["first_layer/sparsity"] < 1  # the threshold pruned some weights
    assert section["window"] == 5 and len(section["locality"]) == 100
    assert len(section["units"]) == 8 and len(section["units"][0]) == 28
    alive = [v for v in section["locality"] if v is not None]
    assert metrics["first_layer/locality"] == pytest.approx(sum(alive) / len(alive), abs=1e-5)


def test_a_first_layer_pruned_to_nothing_records_no_locality_and_full_sparsity(compose_cfg):
    cfg = compose_cfg(
        "model=two_fc", "data=mnist", "callbacks=locality", "optimizer=beta_lasso",
        "optimizer.l1=1e-3", "trainer.max_epochs=1", "logger=none", "debug=quick",
    )  # fmt: skip  # threshold 0.05 > every initial weight (at most 1/28): all zeroed at once
    metrics = train(cfg)
    record = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert "first_layer/locality" not in metrics  # a NaN would make the record unreadable
    assert metrics["first_layer/sparsity"] == 1.0
    assert set(record["first_layer"]["locality"]) == {None} and record["first_layer"]["units"] == []


@pytest.mark.parametrize("options", [{"window": 0}, {"keep": -1}, {"window": 2.5}])
def test_a_locality_callback_with_a_meaningless_setting_is_refused_before_training(options):
    with pytest.raises(ValueError, match="must be an integer"):
        FirstLayerLocality(**options)


def test_a_callback_value_its_class_refuses_stops_the_run_with_one_line_naming_it(compose_cfg):
    cfg = compose_cfg(
        "model=two_fc", "callbacks=locality", "callbacks.first_layer_locality.window=0",
        "debug=fast_dev_run",
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"^callbacks\.first_layer_locality \(mlp_vs_cnn\.callb"):
        train(cfg)
