"""The Trainer owns the loop: limits, validation intervals, schedulers, accumulation, clipping,
precision, step checkpoints and the loggers' step axis behave as in any Lightning project."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from mlp_vs_cnn.record import HPARAM_METRICS
from mlp_vs_cnn.training import build, train

# The fixture's 500 training images in 10 batches of 50; 100 validation images in 4 batches of 25.
QUIET = (
    "data.batch_size=50",
    "data.eval_batch_size=25",
    "data.limit_eval_samples=100",
    "callbacks.rich_progress_bar=null",
    "callbacks.rich_model_summary=null",
    "callbacks.sample_grids=null",
    "callbacks.misclassified=null",
    "callbacks.first_layer_weights=null",
    "callbacks.activation_maximization=null",
)


def fit(cfg, *callbacks):
    datamodule, model, trainer, _ = build(cfg)
    trainer.callbacks.extend(callbacks)
    trainer.fit(model, datamodule=datamodule)
    return model, trainer


def test_fractional_limits_and_val_check_interval_validate_twice_per_epoch(compose_cfg):
    cfg = compose_cfg(
        *QUIET,
        "data.batch_size=10",  # 50 batches
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=0.1",  # 5 batches
        "trainer.limit_val_batches=0.5",  # 2 of 4
        "trainer.val_check_interval=0.5",  # after batches 2 and 4
        "logger=none",
    )

    class Record(Callback):
        def __init__(self):
            self.validations, self.val_batches, self.bar_totals = [], 0, []

        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking:
                self.validations.append(trainer.global_step)

        def on_validation_batch_end(self, trainer, *args, **kwargs):
            self.val_batches += not trainer.sanity_checking

        def on_train_epoch_start(self, trainer, pl_module):
            self.bar_totals.append(trainer.num_training_batches)

    record = Record()
    _, trainer = fit(cfg, record)
    assert trainer.global_step == 10  # 5 optimizer steps per epoch, one per batch
    assert record.bar_totals == [5, 5]  # what the progress bar counts: the optimizer steps
    assert record.validations == [2, 4, 7, 9]
    assert record.val_batches == 4 * 2


def test_integer_limit_and_log_every_n_steps_count_optimizer_steps(compose_cfg, tmp_path):
    cfg = compose_cfg(
        *QUIET,
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=7",
        "trainer.log_every_n_steps=2",
        "logger=csv",
    )
    _, trainer = fit(cfg)
    assert trainer.global_step == 7
    with open(Path(cfg.paths.output_dir) / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    loss_steps = [int(r["step"]) for r in rows if r.get("train/loss")]
    assert loss_steps == [1, 3, 5]  # Lightning logs after steps 2, 4, 6 (0-based step 1, 3, 5)
    assert all(r["epoch"] != "" for r in rows)


def test_every_n_train_steps_checkpoints_land_on_each_nth_step(compose_cfg):
    cfg = compose_cfg(*QUIET, "trainer.max_epochs=1", "logger=none")
    dirpath = Path(cfg.paths.output_dir) / "step_checkpoints"
    every_3 = ModelCheckpoint(
        dirpath=dirpath, filename="{step}", every_n_train_steps=3, save_top_k=-1
    )
    fit(cfg, every_3)
    assert sorted(p.name for p in dirpath.iterdir()) == [
        "step=3.ckpt",
        "step=6.ckpt",
        "step=9.ckpt",
    ]


def test_a_step_interval_scheduler_changes_the_learning_rate_every_step(compose_cfg):
    cfg = compose_cfg(
        *QUIET,
        "scheduler=warmup",
        "scheduler.scheduler.total_iters=8",
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1",
        "logger=csv",
        "+callbacks.lr_monitor._target_=lightning.pytorch.callbacks.LearningRateMonitor",
        "+callbacks.lr_monitor.logging_interval=step",
    )
    _, trainer = fit(cfg)
    with open(Path(cfg.paths.output_dir) / "csv" / "metrics.csv") as f:
        rates = [float(r["lr-Adam"]) for r in csv.DictReader(f) if r.get("lr-Adam")]
    assert len(rates) == 10
    assert all(a < b for a, b in zip(rates[:9], rates[1:9], strict=False))  # rising, step by step
    assert rates[8:] == [pytest.approx(cfg.optimizer.lr)] * 2  # warm-up over after 8 steps


def test_the_plateau_scheduler_watches_the_metric_its_config_names(compose_cfg):
    plateau = ("scheduler=plateau", "trainer.max_epochs=2", "logger=none")
    cfg = compose_cfg(
        *QUIET, *plateau, "scheduler.monitor=val/loss", "scheduler.scheduler.mode=min"
    )
    model, trainer = fit(cfg)
    (config,) = trainer.lr_scheduler_configs
    assert config.monitor == "val/loss" and config.scheduler.mode == "min"
    assert config.scheduler.last_epoch == 2  # stepped after each epoch's validation

    wrong = compose_cfg(*QUIET, *plateau, "scheduler.monitor=val/nope")
    with pytest.raises(Exception, match="val/nope"):
        fit(wrong)


def test_accumulated_gradients_step_the_optimizer_every_second_batch(compose_cfg):
    cfg = compose_cfg(
        *QUIET, "trainer.max_epochs=1", "trainer.accumulate_grad_batches=2", "logger=none"
    )
    _, trainer = fit(cfg)
    assert trainer.global_step == 5  # 10 batches, one optimizer step per 2


def test_gradient_clipping_under_bf16_mixed_precision_trains_on_cpu(compose_cfg):
    cfg = compose_cfg(
        *QUIET,
        "trainer.max_epochs=1",
        "trainer.precision=bf16-mixed",
        "trainer.gradient_clip_val=0.5",
        "logger=none",
    )
    model, trainer = fit(cfg)
    assert trainer.global_step == 10
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert torch.isfinite(trainer.callback_metrics["val/loss"])


def test_every_tensorboard_scalar_sits_on_the_global_step_axis(compose_cfg):
    cfg = compose_cfg(*QUIET, "trainer.max_epochs=2", "trainer.log_every_n_steps=3",
                      "data=mnist_shifted", "callbacks=shift_robustness",
                      "callbacks.shift_robustness.measure.num_images=20",
                      "callbacks.shift_robustness.measure.num_consistency_images=20",
                      "callbacks.rich_progress_bar=null", "callbacks.rich_model_summary=null",
                      "callbacks.sample_grids=null", "callbacks.misclassified=null",
                      "callbacks.first_layer_weights=null",
                      "callbacks.activation_maximization=null")  # fmt: skip
    metrics = train(cfg)
    final_step = 20  # 2 epochs of 10 optimizer steps
    events = EventAccumulator(cfg.paths.output_dir)
    events.Reload()
    scalars = {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    assert "step" not in scalars  # no home-made x axis
    # Every card sits in a section (test, train, val, ...): none before them, such as `epoch`.
    assert "epoch" not in scalars and all("/" in tag for tag in scalars)
    assert {"train/loss", "train/loss_epoch", "val/acc", "test/acc"} <= set(scalars)
    assert all(0 <= s <= final_step for steps in scalars.values() for s in steps)
    assert scalars["train/loss"] == [2, 5, 8, 11, 14, 17]  # every 3 steps: a curve, not a point
    assert scalars["train/loss_epoch"] == [9, 19]
    for tag in ("test/acc", "test/loss", "shift/consistency"):
        assert scalars[tag] == [final_step], tag
    assert scalars["val/acc"] == [9, 19]  # after each epoch's last step (0-based)
    values = [e.value for tag in scalars for e in events.Scalars(tag)]
    assert all(math.isfinite(v) for v in values)  # no NaN placeholders
    assert 0 <= metrics["shift/consistency"] <= 1
    assert (Path(cfg.paths.output_dir) / "figures" / "shift" / "heatmap.png").is_file()


def test_hparams_shows_model_data_and_seed_at_once_beside_the_declared_metrics(compose_cfg):
    cfg = compose_cfg(*QUIET, "trainer.max_epochs=1", "model=fc_small", "data=fashion_permuted")
    train(cfg)
    events = EventAccumulator(cfg.paths.output_dir)
    events.Reload()
    content = {
        tag: HParamsPluginData.FromString(raw)
        for tag, raw in events.PluginTagToContent("hparams").items()
    }
    experiment = content["_hparams_/experiment"].experiment
    assert [m.name.tag for m in experiment.metric_infos] == list(HPARAM_METRICS)
    shown = [h.name for h in experiment.hparam_infos if h.differs]
    assert shown == ["model", "data", "seed", "lr", "num_parameters"]
    session = content["_hparams_/session_start_info"].session_start_info.hparams
    assert session["model"].string_value == "fc_small"
    assert session["data"].string_value == "fashion_permuted"
    assert session["seed"].string_value == "42"  # an integer's digits, not 42.000
    assert session["num_parameters"].string_value == "6442"
    assert session["data.permutation_seed"].string_value == "0"  # never the string "none"
    assert "data.canvas_size" not in session  # unset values are left out
    # Each declared metric has its own scalars: validation after the epoch's last step (9),
    # the test and the fit time at the final step.
    metrics = [*HPARAM_METRICS, "test/loss", "time/fit_seconds"]
    steps = {metric: [e.step for e in events.Scalars(metric)] for metric in metrics}
    assert steps == {
        "test/acc": [10],
        "val/acc_best": [9],
        "test/loss": [10],
        "time/fit_seconds": [10],
    }


def test_enable_progress_bar_false_turns_the_configured_progress_bar_off(compose_cfg):
    cfg = compose_cfg("trainer.enable_progress_bar=false", "trainer.max_epochs=1", "logger=none",
                      *[o for o in QUIET if "rich_progress_bar" not in o])  # fmt: skip
    _, trainer = fit(cfg)
    assert trainer.progress_bar_callback is None and trainer.global_step == 10


def test_the_model_summary_lists_the_networks_layers_and_no_metric_object(compose_cfg, capsys):
    quiet = [o for o in QUIET if "rich_model_summary" not in o]
    cfg = compose_cfg(*quiet, "trainer.max_epochs=1", "logger=none", "model=lenet5",
                      "trainer.enable_progress_bar=false")  # fmt: skip
    fit(cfg)
    out = capsys.readouterr().out
    assert "net.features" in out and "net.classifier" in out
    for metric in ("train_acc", "val_loss", "val_acc_best", "MulticlassAccuracy", "MeanMetric"):
        assert metric not in out, metric
