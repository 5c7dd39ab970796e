"""Several optimizer steps per Lightning batch (data.steps_per_batch): the same training as one
step per batch, with schedulers, max_steps and the loggers' step axis counting optimizer steps,
and gradient clipping done by the classifier."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlp_vs_cnn.training import build, train
from tests.test_faults import SMALL_RUN, final_weights

# 500 training images in steps of 50: 10 optimizer steps per epoch, 20 in all.


@pytest.mark.parametrize("steps_per_batch", [4, 8])
def test_several_steps_per_batch_train_exactly_as_one_step_per_batch(
    compose_cfg, tmp_path, steps_per_batch
):
    runs = {}
    for k in (1, steps_per_batch):
        out = tmp_path / str(k)
        cfg = compose_cfg(
            *SMALL_RUN, f"data.steps_per_batch={k}", f"hydra.runtime.output_dir={out}"
        )
        runs[k] = train(cfg), final_weights(out)
        saved = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
        assert saved["global_step"] == 20
    (one_metrics, one_weights), (many_metrics, many_weights) = runs.values()
    assert many_metrics == one_metrics
    for name, tensor in one_weights.items():
        assert torch.equal(tensor, many_weights[name]), name


def fit(compose_cfg, *overrides: str):
    datamodule, model, trainer, _ = build(compose_cfg(*SMALL_RUN, *overrides))
    trainer.fit(model, datamodule=datamodule)
    return model, trainer


def test_a_cosine_schedule_steps_once_per_epoch_and_ends_at_its_minimum(compose_cfg):
    model, trainer = fit(compose_cfg, "optimizer=sgd", "scheduler=cosine")
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.last_epoch == 2  # T_max = trainer.max_epochs = 2
    assert model.optimizers().param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_a_plateau_schedule_reads_the_validation_accuracy_of_each_epoch(compose_cfg):
    # With patience 0 and a threshold no accuracy can beat, every epoch after the first counts
    # as no improvement: the rate is divided once, after the second epoch.
    model, trainer = fit(
        compose_cfg,
        "scheduler=plateau",
        "scheduler.patience=0",
        "+scheduler.threshold=10",
        "+scheduler.threshold_mode=abs",
        "optimizer.lr=0.01",
    )
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.last_epoch == 2
    assert model.optimizers().param_groups[0]["lr"] == pytest.approx(0.001)


def test_max_steps_counts_optimizer_steps_even_inside_a_batch(compose_cfg, tmp_path):
    train(compose_cfg(*SMALL_RUN, "+trainer.max_steps=5", "test=false"))
    saved = torch.load(Path(tmp_path) / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 5


def test_the_loggers_step_axis_counts_optimizer_steps(compose_cfg, tmp_path):
    overrides = ("logger=tensorboard", "trainer.log_every_n_steps=1", "test=false")
    cfg = compose_cfg(*SMALL_RUN, *overrides)
    train(cfg)
    (events,) = (Path(cfg.paths.output_dir) / "tensorboard").rglob("events.out.tfevents.*")
    scalars = EventAccumulator(str(events)).Reload()
    steps = {tag: [e.step for e in scalars.Scalars(tag)] for tag in scalars.Tags()["scalars"]}
    # Batches of 8 steps, then 2, in each epoch; validation and epoch metrics at each epoch's end.
    assert steps["train/loss"] == [8, 10, 18, 20]
    assert steps["val/acc"] == steps["train/acc"] == [10, 20]
    assert "step" not in steps


def test_gradient_clipping_by_value_bounds_every_update(compose_cfg, tmp_path):
    # SGD without momentum moves each weight by at most lr * clip per step when every gradient
    # element is clipped to [-clip, clip]: 20 steps of lr 0.1 and clip 1e-6 move it 2e-6 at most.
    overrides = (*SMALL_RUN, "optimizer=sgd", "optimizer.lr=0.1", "test=false")
    clip = ("+trainer.gradient_clip_val=1e-6", "+trainer.gradient_clip_algorithm=value")
    cfg = compose_cfg(*overrides, *clip)
    L.seed_everything(cfg.seed, workers=True)  # as train() does before building the model
    initial = {k: v.clone() for k, v in build(cfg)[1].state_dict().items()}
    train(cfg)
    trained = final_weights(tmp_path / "run")
    moved = max((trained[k] - initial[k]).abs().max().item() for k in initial)
    assert 0 < moved <= 20 * 0.1 * 1e-6 * 1.001


def test_gradient_accumulation_is_refused_with_what_to_do_instead(compose_cfg):
    with pytest.raises(ValueError, match="Raise data.batch_size instead"):
        build(compose_cfg(*SMALL_RUN, "+trainer.accumulate_grad_batches=2"))
