"""`check_config`: the values of a composed config that its schema cannot check.

The values (a positive batch size, a finite positive learning rate, at least one epoch), the
arguments of every network, optimizer and scheduler against their schemas, and the relations
between config groups (the network takes the data's images, the metric a sweeper optimises is
logged). The classes' own checks run where they are built, reading nothing: the data module and
network in `training.prepare`, which builds them once for the run (`check_run`); the optimizer
and scheduler here, each on one placeholder parameter, because Lightning builds the run's own in
`configure_optimizers` only once the run has started (a one-cycle schedule needs its length).
It runs once per run, before anything is written: for a single run in `CheckConfig.on_run_start`,
which Hydra calls before it makes the run folder; for each job of a sweep in `check_job`, which the
entry points call first (a job with a bad value fails alone). `CheckConfig.on_multirun_start` stops
a sweep whose every job has a bad value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from hydra.errors import HydraException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mlp_vs_cnn.errors import ConfigError, describe_omegaconf
from mlp_vs_cnn.schemas import schema_of
from mlp_vs_cnn.visualize.figures import FORMATS, check_formats


def check_config(cfg: DictConfig) -> None:
    """Raise `ConfigError` for the first value of `cfg` that a run cannot use.

    Checks what `cfg` holds: the data config, the network, the optimizer, scheduler and trainer
    of a training run, the checkpoint to read, the figures to draw. Nothing is read or written;
    the data module and network are built, once, by `training.prepare` (`check_run`).
    """
    missing = next(_missing_keys(cfg), None)
    if missing:
        raise ConfigError(f"{missing}=???: required; set it on the command line ({missing}=...)")
    training = bool(cfg.get("optimizer"))
    _check_run(cfg, training)
    if cfg.get("data"):
        _check_data(cfg)
    if cfg.get("model"):
        _check_model(cfg)
    if training:
        _check_training(cfg)
    if cfg.get("what"):
        figures = [name for name, callback in cfg.callbacks.items() if callback]
        unknown = [name for name in cfg.what if name not in figures]
        if unknown:
            raise ConfigError(
                f"what={list(cfg.what)}: {', '.join(unknown)} is not a figure callback; allowed: "
                f"{', '.join(figures)}"
            )


def _missing_keys(node: DictConfig, prefix: str = "") -> Iterable[str]:
    """The keys still `???`, without resolving interpolations (nor Hydra's own section)."""
    for key in node:
        # (OmegaConf.missing_keys resolves interpolations: the run folder's needs Hydra's runtime.)
        if OmegaConf.is_missing(node, key):
            yield f"{prefix}{key}"
        elif key != "hydra" and not OmegaConf.is_interpolation(node, key):
            child = node[key]  # not an interpolation: nothing to resolve
            if isinstance(child, DictConfig):
                yield from _missing_keys(child, f"{prefix}{key}.")


def _check_run(cfg: DictConfig, training: bool) -> None:
    formats = cfg.get("figure_formats")
    if formats is not None:
        try:
            check_formats(formats)  # the writer's own check, before anything is written
        except ValueError:
            raise ConfigError(
                f"figure_formats={list(formats)}: allowed: a list of {', '.join(FORMATS)} "
                f"(e.g. [png] or [png,pdf])"
            ) from None
    seed = cfg.get("seed")
    if seed is not None and not _is_int(seed):
        raise ConfigError(f"seed={seed}: must be an integer, or null for a random seed")
    if cfg.get("num_threads") is not None:
        _require_positive_int("num_threads", cfg.num_threads, "or null to choose by the network")
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path and not (training and ckpt_path == "last") and not Path(ckpt_path).is_file():
        also = " or `last` (this run's last.ckpt)" if training else ""
        raise ConfigError(f"ckpt_path={ckpt_path}: no such file; allowed: a .ckpt file{also}")


def _check_data(cfg: DictConfig) -> None:
    data = cfg.data
    _check_arguments(data, "data")
    # Checks ImageDataModule does not make itself (yet): they would fail only once data is loaded.
    _require_positive_int("data.batch_size", data.batch_size)
    _require_positive_int("data.eval_batch_size", data.eval_batch_size)
    for key in ("limit_train_samples", "limit_eval_samples"):
        if data.get(key) is not None:
            _require_positive_int(f"data.{key}", data[key], "or null for all")
    if data.normalize:
        _require_positive_number("data.std", data.std)
    if data.class_names is not None and len(data.class_names) != data.num_classes:
        raise ConfigError(
            f"data.class_names has {len(data.class_names)} names but data.num_classes="
            f"{data.num_classes}: give one name per class"
        )
    # ImageDataModule checks the rest itself (dataset, placements, canvas and image size,
    # val_size) when it is built, once, by `training.prepare`.


def _check_model(cfg: DictConfig) -> None:
    model = cfg.model
    _check_arguments(model, "model")
    for key in ("image_size", "num_classes"):
        if key in model and cfg.get("data") and model[key] != cfg.data[key]:
            raise ConfigError(
                f"model.{key}={model[key]} but data.{key}={cfg.data[key]}: the network must take "
                f"the data's images and classes; leave model.{key} at ${{data.{key}}}"
            )


def _check_training(cfg: DictConfig) -> None:
    optimizer_cfg = cfg.optimizer
    _check_arguments(optimizer_cfg, "optimizer")
    if "lr" in optimizer_cfg:
        _require_positive_number("optimizer.lr", optimizer_cfg.lr)
    # torch checks the other arguments (weight decay, momentum, betas) when it builds one.
    optimizer = _build(optimizer_cfg, "optimizer", [torch.nn.Parameter(torch.zeros(1))])
    scheduler = cfg.get("scheduler")
    if scheduler and scheduler.get("scheduler"):
        if scheduler.get("interval", "epoch") not in ("epoch", "step"):
            raise ConfigError(
                f"scheduler.interval={scheduler.interval}: allowed: epoch or step (how often "
                f"the scheduler steps)"
            )
        _require_positive_int("scheduler.frequency", scheduler.get("frequency", 1))
        _check_arguments(scheduler.scheduler, "scheduler.scheduler")
        epochs = scheduler.scheduler.get("T_max", 1)  # the epochs a cosine schedule decays over
        if not (_is_int(epochs) and epochs >= 1):
            raw = OmegaConf.to_container(scheduler.scheduler)["T_max"]  # e.g. ${trainer.max_epochs}
            source = f" (from {raw})" if raw != epochs else ""
            raise ConfigError(
                f"scheduler.scheduler.T_max={epochs}{source}: must be an integer >= 1, the epochs "
                f"the schedule decays over"
            )
        # A one-cycle schedule's length (total_steps: null) is the run's, known once it starts.
        whole_run = {"total_steps": 1} if scheduler.scheduler.get("total_steps", 1) is None else {}
        _build(scheduler.scheduler, "scheduler.scheduler", optimizer, **whole_run)
    _check_trainer(cfg)


def _check_trainer(cfg: DictConfig) -> None:
    trainer = cfg.trainer
    _check_arguments(trainer, "trainer")
    epochs = trainer.get("max_epochs")
    if epochs is not None and not (_is_int(epochs) and (epochs >= 1 or epochs == -1)):
        raise ConfigError(
            f"trainer.max_epochs={epochs}: nothing would be trained; allowed: a number of epochs "
            f">= 1, or -1 to train until stopped"
        )
    steps = trainer.get("max_steps", -1)
    if not (_is_int(steps) and (steps >= 1 or steps == -1)):
        raise ConfigError(
            f"trainer.max_steps={steps}: nothing would be trained; allowed: a number of optimizer "
            f"steps >= 1, or -1 for no limit"
        )
    if trainer.get("limit_train_batches") == 0:
        raise ConfigError(
            "trainer.limit_train_batches=0: nothing would be trained; allowed: a number of "
            "batches >= 1, a fraction in (0, 1], or null for all"
        )
    metric = cfg.get("optimized_metric")
    if not metric:
        return
    stage = metric.split("/", 1)[0]
    if stage not in ("train", "val", "test") or "/" not in metric:
        raise ConfigError(
            f"optimized_metric={metric}: not a metric a run logs; allowed: a train/, val/ or test/ "
            f"metric (e.g. val/acc_best), or null"
        )
    if stage == "test" and not cfg.get("test"):
        raise ConfigError(f"optimized_metric={metric} needs a test, but test=false")
    every = trainer.get("check_val_every_n_epoch")
    if stage == "val" and trainer.get("limit_val_batches") == 0:
        raise ConfigError(
            f"optimized_metric={metric} needs validation, but trainer.limit_val_batches=0 turns "
            f"it off; allowed: a number of batches >= 1, a fraction in (0, 1], or null for all"
        )
    if stage == "val" and _is_int(every) and _is_int(epochs) and 0 < epochs < every:
        raise ConfigError(
            f"optimized_metric={metric} needs validation, but trainer.check_val_every_n_epoch="
            f"{every} is more than trainer.max_epochs={epochs}: nothing would be validated"
        )


def _check_arguments(node: DictConfig, key: str) -> None:
    """The keys and the literal values of `node` against the schema of its `_target_`: for a
    config without a schema in the defaults list (a network), or given keys with `+key=`."""
    target = node.get("_target_")
    try:
        target_class = get_class(target)
    except Exception as err:
        raise ConfigError(f"{key}._target_={target}: cannot be imported ({err})") from None
    given = OmegaConf.to_container(node, resolve=False)  # interpolations are checked when used
    values = {k: v for k, v in given.items() if not k.startswith("_")}
    try:
        OmegaConf.merge(schema_of(target_class), values)
    except OmegaConfBaseException as err:
        raise ConfigError(describe_omegaconf(err, prefix=key)) from None


@contextmanager
def refused_values(key: str, target: str) -> Iterator[None]:
    """Turn the error of a class's own argument check (raised directly or wrapped by Hydra's
    `instantiate`) into a `ConfigError` that names the config entry `key` and the class."""
    try:
        yield
    except (HydraException, ValueError, TypeError) as err:
        cause = err.__cause__ if isinstance(err, HydraException) else err
        if not isinstance(cause, (ValueError, TypeError)):
            raise
        message = " ".join(str(cause).split())
        if not message.startswith(f"{key}."):
            message = f"{key} ({target}): {message}"
        raise ConfigError(message) from cause


def _build(node: DictConfig, key: str, *args: Any, **kwargs: Any) -> Any:
    """Build what `node` configures (and call it with `args` if it is a `_partial_` factory), so
    that its class's own checks run."""
    with refused_values(key, node._target_):
        built = instantiate(node, _convert_="all", **kwargs)
        return built(*args) if args else built


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_positive_int(key: str, value: Any, also: str = "") -> None:
    if not (_is_int(value) and value >= 1):
        raise ConfigError(f"{key}={value}: must be an integer >= 1{f', {also}' if also else ''}")


def _require_positive_number(key: str, value: Any) -> None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and value > 0):
        raise ConfigError(f"{key}={value}: must be a finite number > 0")
