"""What `train.py` does, as functions of a composed Hydra config (tests and the benchmark call
them too): build the data module, classifier and trainer of a run, fit, test, record."""

from __future__ import annotations

import json
import logging
import random
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.loggers import Logger, TensorBoardLogger

# Lightning has no public way to ask whether a strategy starts its processes by rerunning the
# command line (`strategy=ddp`), which is what a sweep cannot survive.
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException
from omegaconf import DictConfig, OmegaConf

from mlp_vs_cnn.callbacks import RecordedCallback, RunInterrupted
from mlp_vs_cnn.checkpoints import (
    CheckpointError,
    check_data,
    check_network,
    check_resume_data,
    read_checkpoint,
)
from mlp_vs_cnn.checks import refused_values
from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.errors import ConfigError
from mlp_vs_cnn.models import ImageClassifier
from mlp_vs_cnn.record import (
    code_version,
    config_choices,
    final_metrics,
    log_hparams,
    print_metrics_table,
    run_config,
    run_hparams,
    run_settings,
    settings_key,
    study_record_path,
    write_json,
    write_metrics,
)
from mlp_vs_cnn.run_folders import check_run_folder, finished_record, folder_lock, in_sweep
from mlp_vs_cnn.runtime import threads_for
from mlp_vs_cnn.study_records import checksum

log = logging.getLogger(__name__)


def instantiate_all(section: DictConfig | None, group: str) -> list[Any]:
    """Build every entry of a config section of `_target_` mappings (callbacks, loggers); a
    value the class itself refuses is a `ConfigError` naming `<group>.<entry>`."""
    built = []
    for name, node in (section or {}).items():
        if node and "_target_" in node:
            with refused_values(f"{group}.{name}", node._target_):
                built.append(instantiate(node, _convert_="all"))
    return built


def _no_advertisement(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("💡 Tip")


def quiet_known_noise() -> None:
    """Silence, where they come from, messages that tell a user of this project nothing: an
    advertisement, a deprecation inside Lightning, the warning that a tiny run has fewer batches
    than the logging interval."""
    lightning_info = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _no_advertisement not in lightning_info.filters:  # once, however many runs a process has
        lightning_info.addFilter(_no_advertisement)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")


def check_strategy_fits_sweep(trainer: L.Trainer) -> None:
    """Refuse `strategy=ddp` in a local sweep: its extra processes would each rerun the sweep."""
    if in_sweep() and isinstance(trainer.strategy.launcher, _SubprocessScriptLauncher):
        raise ConfigError(
            "strategy=ddp starts each extra process by rerunning the command line, which under -m "
            "reruns the whole sweep. In a sweep use trainer.strategy=ddp_spawn, or "
            "hydra/launcher=slurm (SLURM starts one task per device), or one run per command."
        )


@dataclass
class Prepared:
    """What `prepare` built, and the config it was built for."""

    key: str
    datamodule: ImageDataModule | None
    model: ImageClassifier | None


# What the check of a run built (before Hydra makes a single run's folder), kept for the run.
_prepared: Prepared | None = None


def _run_key(cfg: DictConfig) -> str:
    """The config of a run as the task function receives it: without Hydra's own section."""
    return OmegaConf.to_yaml(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))


def prepare(
    cfg: DictConfig, keep: bool = True
) -> tuple[ImageDataModule | None, ImageClassifier | None]:
    """Build what a run builds from its config: for a training run, seeded (a seed drawn and
    recorded if it has none), its data module and classifier; for an evaluation, the data module
    it was given (its classifier is the checkpoint's). Their construction is the check of their
    classes' own arguments: a value they refuse is a `ConfigError` here. With `keep`, the run of
    the same config in this process takes them (`prepared`) instead of building them again."""
    global _prepared
    _prepared = None
    training = bool(cfg.get("optimizer"))
    if training:
        if cfg.get("seed") is None:
            # A random run draws its seed and records it, so that it can be repeated.
            cfg.seed = random.SystemRandom().randrange(2**31)
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = model = None
    if cfg.get("data"):
        # An evaluation does not shuffle: without a seed its shuffle seed is left at 0.
        unused = {} if training or cfg.get("seed") is not None else {"shuffle_seed": 0}
        with refused_values("data", cfg.data._target_):
            datamodule = instantiate(cfg.data, _convert_="all", **unused)
    if training:
        # Factories, whose values check_config has checked; Lightning calls them at the fit.
        scheduler = cfg.get("scheduler")
        optimizer = instantiate(cfg.optimizer, _convert_="all")
        lr_scheduler = instantiate(scheduler, _convert_="all") if scheduler else None
        with refused_values("model", cfg.model._target_):
            model = ImageClassifier(
                net=cfg.model,
                num_classes=cfg.data.num_classes,
                optimizer=optimizer,
                lr_scheduler=lr_scheduler,
                channels_last=bool(cfg.get("channels_last")),
            )
    _prepared = Prepared(_run_key(cfg), datamodule, model) if keep else None
    return datamodule, model


def prepared(cfg: DictConfig) -> tuple[ImageDataModule | None, ImageClassifier | None]:
    """What `prepare` built for this config, or else built now."""
    global _prepared
    if _prepared is not None and _prepared.key == _run_key(cfg):
        taken, _prepared = _prepared, None
        return taken.datamodule, taken.model
    return prepare(cfg, keep=False)


def build(cfg: DictConfig) -> tuple[ImageDataModule, ImageClassifier, L.Trainer, list[Logger]]:
    """The data module, classifier, trainer and loggers of a run (the benchmark uses it too); the
    first two as `prepare` built them for this config, or else seeded and built now."""
    datamodule, model = prepared(cfg)
    # Threads for this network, counted on it before it is compiled.
    torch.set_num_threads(
        cfg.get("num_threads") or threads_for(model.net, model.example_input_array)
    )
    if cfg.get("compile"):
        model.net.compile()  # in place: checkpoints keep the same parameter names
    loggers: list[Logger] = instantiate_all(cfg.get("logger"), "logger")
    callbacks = instantiate_all(cfg.get("callbacks"), "callbacks")
    if cfg.trainer.get("enable_progress_bar") is False:  # the switch a Lightning user knows
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    try:
        trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    except InstantiationException as err:
        if not isinstance(err.__cause__, MisconfigurationException):
            raise
        # Lightning's own checks of the machine (no GPU for trainer=gpu, too few devices): here,
        # not in check_config, which a SLURM sweep also runs on a login node without the GPUs.
        raise ConfigError(
            f"trainer (accelerator={cfg.trainer.accelerator}, devices={cfg.trainer.devices}): "
            f"{err.__cause__} Use trainer=cpu, or trainer=default (a GPU when there is one)."
        ) from None
    check_strategy_fits_sweep(trainer)
    return datamodule, model, trainer, loggers


def resume_path(cfg: DictConfig, model, datamodule, trainer: L.Trainer) -> str | None:
    """The checkpoint to resume from, checked against this run's network and data.

    `ckpt_path=last` is `last.ckpt` in this run's checkpoint folder; without one the run starts
    afresh (so a sweep with `ckpt_path=last` resumes the jobs that were stopped).
    """
    ckpt_path = cfg.get("ckpt_path")
    if not ckpt_path:
        return None
    if ckpt_path == "last":
        callback = trainer.checkpoint_callback
        last = Path(callback.dirpath) / "last.ckpt" if callback and callback.dirpath else None
        if last is None or not last.is_file():
            log.info("ckpt_path=last: no checkpoint in this run's folder yet, starting afresh.")
            return None
        ckpt_path = str(last)
    try:
        checkpoint = read_checkpoint(ckpt_path)
    except CheckpointError as err:
        raise CheckpointError(f"{err}{intact_alternative(Path(ckpt_path))}") from err
    check_network(checkpoint, model, ckpt_path)
    check_data(checkpoint, datamodule, ckpt_path)
    check_resume_data(checkpoint, datamodule, ckpt_path)
    max_epochs = cfg.trainer.get("max_epochs")
    if max_epochs not in (None, -1) and checkpoint.get("epoch", 0) + 1 > max_epochs:
        raise CheckpointError(
            f"{ckpt_path} is from epoch {checkpoint['epoch'] + 1}, past trainer.max_epochs="
            f"{max_epochs}: nothing would be trained. Ask for more epochs, or drop ckpt_path."
        )
    return ckpt_path


def figure_seconds(trainer: L.Trainer) -> float:
    """Time the callbacks have spent drawing figures and analyses so far."""
    return sum(c.seconds for c in trainer.callbacks if isinstance(c, RecordedCallback))


def intact_alternative(broken: Path) -> str:
    """A sentence naming the newest other checkpoint beside `broken` that loads, if any."""
    others = sorted(broken.parent.glob("*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True)
    for other in others:
        if other != broken:
            try:
                read_checkpoint(other)
            except CheckpointError:
                continue
            return f" The newest intact checkpoint there is {other}: resume with ckpt_path={other}."
    return " No other checkpoint there loads: drop ckpt_path to start afresh."


def train(cfg: DictConfig) -> dict[str, Any]:
    """Seed, build, fit, test the best checkpoint; write and return the run's final metrics.
    The run folder is this process's while it runs (`folder_lock`)."""
    with folder_lock(cfg.paths.output_dir):
        return _train(cfg)


def _train(cfg: DictConfig) -> dict[str, Any]:
    if in_sweep():  # a single run's folder was checked by RunFolderGuard before it was made
        max_epochs = cfg.trainer.get("max_epochs")
        finished = check_run_folder(cfg.paths.output_dir, cfg.get("ckpt_path"), max_epochs)
        if finished is not None:  # a sweep resumed with ckpt_path=last: this job is done
            log.info("%s holds a finished run; nothing to do.", cfg.paths.output_dir)
            return finished["metrics"]
    # A finished run trained further keeps what each stage of it did.
    earlier = finished_record(cfg.paths.output_dir)
    stages = (earlier.get("stages") or [_stage(earlier)]) if earlier else []
    quiet_known_noise()
    datamodule, model, trainer, loggers = build(cfg)
    log.info("Seed set to %d", cfg.seed)
    log.info("torch uses %d CPU threads", torch.get_num_threads())
    ckpt_path = resume_path(cfg, model, datamodule, trainer)
    hparams = run_hparams(cfg, model.num_parameters)
    log.info("%s: %s parameters", cfg.model._target_, f"{model.num_parameters:,}")
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            log_hparams(logger.experiment, hparams)
        else:
            logger.log_hyperparams(hparams)

    started = time.perf_counter()
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except (RunInterrupted, SIGTERMException) as stop:
        how, status = ("SIGTERM", 143) if isinstance(stop, SIGTERMException) else ("Ctrl+C", 130)
        log.error(
            "Interrupted by %s after step %d; %s/last.ckpt holds it. Resume with the same "
            "command plus ckpt_path=last hydra.run.dir=%s",
            how,
            trainer.global_step,
            trainer.checkpoint_callback.dirpath if trainer.checkpoint_callback else "checkpoints",
            cfg.paths.output_dir,
        )
        raise SystemExit(status) from None
    # The fit alone: figures drawn at the start and end of training are timed apart.
    fit_seconds = time.perf_counter() - started - figure_seconds(trainer)
    metrics = final_metrics(trainer)

    checkpoint_callback = trainer.checkpoint_callback
    best_ckpt = checkpoint_callback.best_model_path if checkpoint_callback else ""
    if cfg.get("test"):
        if not best_ckpt and not trainer.fast_dev_run:
            log.warning("No best checkpoint was saved; testing the weights of the last epoch.")
        # verbose=False: the run's own table below shows the test metrics with the others.
        trainer.test(
            model,
            datamodule=datamodule,
            ckpt_path=best_ckpt or None,
            weights_only=True,
            verbose=False,
        )
        metrics.update(final_metrics(trainer))

    for logger in loggers:
        logger.log_metrics({"time/fit_seconds": fit_seconds}, step=trainer.global_step)
        logger.save()
    if trainer.is_global_zero:
        print_metrics_table(f"{hparams.get('model', '')} on {hparams.get('data', '')}", metrics)
        record = {
            "status": "finished",  # written only once fitting and testing are done
            "choices": config_choices(cfg),
            "seed": cfg.seed,
            "num_parameters": model.num_parameters,
            "fit_seconds": round(fit_seconds, 3),
            "figure_seconds": round(figure_seconds(trainer), 3),
            "epochs": trainer.current_epoch,
            "global_step": trainer.global_step,
            "best_checkpoint": best_ckpt,
            # A resumed run says where it started: its first steps were trained by another
            # process (with the same data settings, `check_resume_data`).
            "resumed_from": str(Path(ckpt_path).resolve()) if ckpt_path else None,
            "metrics": metrics,
            "config": run_config(cfg),
        }
        if stages:
            record["stages"] = [*stages, _stage(record)]
        for callback in trainer.callbacks:  # curves, and analyses run after testing
            if isinstance(callback, RecordedCallback):
                record.update(callback.run_record)
        # The study record first: metrics.json says "finished", after which the run is not
        # run again, so a failure between the two must leave the run unfinished.
        if cfg.get("results_dir"):
            log.info("Study record written to %s", write_study_record(cfg, record))
        log.info("Metrics written to %s", write_metrics(cfg.paths.output_dir, record))
    return metrics


def _stage(record: dict[str, Any]) -> dict[str, Any]:
    """What one stage of a run (a fit up to its epochs) did, for a run trained further."""
    keys = ("epochs", "global_step", "fit_seconds", "metrics", "best_checkpoint")
    return {k: record.get(k) for k in keys}


def write_study_record(cfg: DictConfig, record: dict[str, Any]) -> Path:
    """A finished run's small record in `cfg.results_dir` (kept in the repository for a study):
    its identity (the key of its resolved settings), the settings, results and code version."""
    settings = run_settings(cfg)
    study = {k: v for k, v in record.items() if k not in ("config", "best_checkpoint")}
    study.update(
        task=cfg.task_name, settings=settings, key=settings_key(settings), code=code_version()
    )
    study = json.loads(json.dumps(study, default=str))  # as it will be read back
    study["checksum"] = checksum(study)
    path = study_record_path(cfg.results_dir, study, cfg.data.get("block_size"))
    return write_json(path, study)


def metric_for_sweeper(metrics: Mapping[str, float], name: str | None) -> float | None:
    if not name:
        return None
    if name not in metrics:
        raise ConfigError(
            f"optimized_metric={name}: the run logged no such metric (nothing was validated or "
            f"tested? trainer.max_steps shorter than an epoch skips validation); it logged: "
            f"{', '.join(sorted(metrics))}"
        )
    return metrics[name]
