"""The configs of a run: their schemas, the checks of their values, and how a bad value or a failed
job is reported: in one line, with no traceback (`HYDRA_FULL_ERROR=1` shows one).

Schemas. Hydra types `data.*`, `trainer.*` and `optimizer.*` when it composes the config, against
dataclass schemas registered in its ConfigStore under `schema/` and placed in the defaults lists
of conf/train.yaml and conf/eval.yaml before the option they type. Each schema is generated from
the typed signature of the class the config builds (`schema_of`): `ImageDataModule`, Lightning's
`Trainer`, each optimizer of `torch.optim` (under its class name in lower case: an optimizer
option named otherwise is typed when the run starts, like the models). So the schema cannot drift
from the code: a new argument of `ImageDataModule` is a new key, typed as it is annotated; a key
no argument takes, or a value of the wrong type, stops the command line before anything runs.

Checks. `check_config` checks what types cannot: the values (a positive batch size, a finite
positive learning rate, at least one epoch), the arguments of every network, optimizer and
scheduler against their own classes (which are built, reading nothing, so their own checks run),
and the relations between config groups (the network takes the data's images, the metric a
sweeper optimises is logged). It runs before anything is written: for a single run in
`CheckConfig.on_run_start`, which Hydra calls before it makes the run folder; for a sweep in
`CheckConfig.on_multirun_start`, which stops a sweep whose every job has a bad value, and at the
start of each job (the entry points call it), so that a job with a bad value fails alone.

Reporting. `run` starts an entry point so that a bad override or option, which Hydra finds when
it composes the config and prints in several lines, is told in one line. `ReportJobs` tells a
failed run or job in one line in its log (and in `error.txt` beside it), with a traceback only for
errors that are not the user's; a sweep runs its other jobs, lists the failed ones at its end, and
writes `summary.csv` and `summary.md` of all its jobs into the sweep folder.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import errno
import functools
import inspect
import io
import json
import logging
import math
import os
import re
import sys
import threading
import traceback
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, Union

import lightning as L
import torch
from hydra import compose
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException, MissingConfigException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from hydra.utils import get_class, instantiate
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
)
from rich.console import Console
from rich.table import Table

from mlp_vs_cnn.checkpoints import CheckpointError
from mlp_vs_cnn.data import DataFilesError, ImageDataModule
from mlp_vs_cnn.data.datamodule import default_data_dir
from mlp_vs_cnn.data.idx import ensure_files
from mlp_vs_cnn.record import METRICS_FILE, SWEEP_JOBS_FILE, write_atomically
from mlp_vs_cnn.run_folders import RunFolderError
from mlp_vs_cnn.visualize.figures import FORMATS, check_formats

log = logging.getLogger(__name__)

ERROR_FILE = "error.txt"  # a failed job's one-line error, beside its log and in the sweep's list
SUMMARY_COLUMNS = (
    "job", "model", "data", "seed", "test/acc", "val/acc_best", "num_parameters", "fit_seconds",
)  # fmt: skip
# `run` asks Hydra for raised errors with HYDRA_FULL_ERROR=1 and marks that it did so here (jobs
# started in other processes inherit both), to tell it from a user's own HYDRA_FULL_ERROR=1.
ONE_LINE_ERRORS = "MLP_VS_CNN_ONE_LINE_ERRORS"


class ConfigError(ValueError):
    """A config value a run cannot use; the message names the key, the value and what is allowed."""


# Errors a user causes and whose message says what to do: one line, no traceback.
USER_ERRORS = (ConfigError, CheckpointError, DataFilesError, FloatingPointError, RunFolderError)


# --- Schemas -----------------------------------------------------------------------------------


@functools.cache
def schema_of(target: Callable, skip: tuple[str, ...] = (), partial: bool = False) -> type:
    """A dataclass schema of a config that builds `target`: `_target_` and one field per keyword
    argument of its signature, with its default (`???` if it has none), minus `skip`.

    Made from the signature rather than written out, so that it cannot drift from the code: an
    argument added to the class is a key of its config, typed as annotated. A field has the
    argument's annotation where OmegaConf can check it (int, float, bool, str, unions of those,
    Optional, lists and dicts of them; a Literal of strings is a str, whose values the class
    checks), else Any (Lightning's `devices`, a list or a str or an int; torch's `lr`, a float or
    a tensor; any class or callable). An argument whose default a config cannot hold as it is (a
    tuple, such as Adam's `betas`, would come back as a list) is left out. `partial`: the config
    is a factory (`_partial_: true`) that the caller completes, e.g. with the parameters.

    The composed config then holds every argument with its default, and `instantiate` passes them
    all: the same values as the class's own defaults (Lightning's PL_TRAINER_* environment
    variables, which only replace defaults of arguments not passed, no longer apply).
    """
    name = f"{target.__module__}.{target.__qualname__}"
    fields: list[tuple[str, Any, dataclasses.Field]] = [
        ("_target_", str, dataclasses.field(default=name))
    ]
    if partial:
        fields.append(("_partial_", bool, dataclasses.field(default=True)))
    hints = _annotations(target)
    for argument, parameter in inspect.signature(target).parameters.items():
        default = MISSING if parameter.default is parameter.empty else parameter.default
        variadic = parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        if argument in skip or variadic or isinstance(default, tuple):
            continue
        kind = _config_type(hints.get(argument, Any), default)
        fields.append((argument, kind, _field(default)))
    return dataclasses.make_dataclass(f"{target.__name__}Config", fields)


def _annotations(target: Callable) -> dict[str, Any]:
    function = inspect.unwrap(target.__init__ if inspect.isclass(target) else target)
    try:
        return typing.get_type_hints(function)
    except Exception:  # a name imported only for type checkers: its arguments are typed Any
        return {
            k: v for k, v in inspect.get_annotations(function).items() if not isinstance(v, str)
        }


def _config_type(annotation: Any, default: Any) -> Any:
    """`annotation` as OmegaConf can check it with this default, else Any."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal and all(isinstance(a, str) for a in args):
        annotation = str
    elif origin in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        inner = _config_type(inner, MISSING)
        annotation = Any if inner is Any else inner | None
    probe = dataclasses.make_dataclass("Probe", [("value", annotation, _field(default))])
    try:
        OmegaConf.structured(probe)
    except Exception:  # a type OmegaConf cannot check (a union, a class, a callable)
        return Any
    return annotation


def _field(default: Any) -> dataclasses.Field:
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default))
    return dataclasses.field(default=default)


def torch_optimizers() -> list[type[torch.optim.Optimizer]]:
    classes = (getattr(torch.optim, name) for name in dir(torch.optim))
    optimizer = torch.optim.Optimizer
    return [
        c
        for c in classes
        if isinstance(c, type) and issubclass(c, optimizer) and c is not optimizer
    ]


def register_schemas() -> None:
    """Put the schemas into Hydra's ConfigStore, where conf/train.yaml and conf/eval.yaml find
    them: `schema/image_data_module`, `schema/trainer`, `schema/optimizer/<class in lower case>`."""
    store = ConfigStore.instance()
    store.store(group="schema", name="image_data_module", node=schema_of(ImageDataModule))
    # The run passes the trainer its callbacks and loggers, from their own config groups.
    store.store(group="schema", name="trainer", node=schema_of(L.Trainer, ("callbacks", "logger")))
    for optimizer in torch_optimizers():
        schema = schema_of(optimizer, ("params",), partial=True)
        store.store(group="schema/optimizer", name=optimizer.__name__.lower(), node=schema)


# --- Checks ------------------------------------------------------------------------------------


def check_config(cfg: DictConfig) -> None:
    """Raise `ConfigError` for the first value of `cfg` that a run cannot use.

    Checks what `cfg` holds: the data config, the network, the optimizer, scheduler and trainer
    of a training run, the checkpoint to read, the figures to draw. Nothing is read or written:
    the classes the config names are built (a data module reads its files only in `setup`).
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
    # ImageDataModule checks the rest itself (dataset, placements, canvas and image size, val_size).
    # A random run draws its seed (the data's shuffle seed) only when it starts.
    seed = {"shuffle_seed": 0} if cfg.get("seed") is None else {}
    _build(data, "data", **seed)


def _check_model(cfg: DictConfig) -> None:
    model = cfg.model
    _check_arguments(model, "model")
    for key in ("image_size", "num_classes"):
        if key in model and cfg.get("data") and model[key] != cfg.data[key]:
            raise ConfigError(
                f"model.{key}={model[key]} but data.{key}={cfg.data[key]}: the network must take "
                f"the data's images and classes; leave model.{key} at ${{data.{key}}}"
            )
    _build(model, "model")


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
        raise ConfigError(_describe_omegaconf(err, prefix=key)) from None


def _build(node: DictConfig, key: str, *args: Any, **kwargs: Any) -> Any:
    """Build what `node` configures (and call it with `args` if it is a `_partial_` factory),
    turning the errors of the class's own argument checks into a ConfigError."""
    try:
        built = instantiate(node, _convert_="all", **kwargs)
        return built(*args) if args else built
    except (HydraException, ValueError, TypeError) as err:  # instantiate wraps the class's error
        cause = err.__cause__ if isinstance(err, HydraException) else err
        if not isinstance(cause, (ValueError, TypeError)):
            raise
        message = " ".join(str(cause).split())
        if not message.startswith(f"{key}."):
            message = f"{key} ({node._target_}): {message}"
        raise ConfigError(message) from cause


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_positive_int(key: str, value: Any, also: str = "") -> None:
    if not (_is_int(value) and value >= 1):
        raise ConfigError(f"{key}={value}: must be an integer >= 1{f', {also}' if also else ''}")


def _require_positive_number(key: str, value: Any) -> None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and value > 0):
        raise ConfigError(f"{key}={value}: must be a finite number > 0")


# --- Reporting ---------------------------------------------------------------------------------


def full_error() -> bool:
    """Whether the user asked for full tracebacks (HYDRA_FULL_ERROR=1, as Hydra reads it)."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1" and ONE_LINE_ERRORS not in os.environ


def run(main: Callable[[], Any]) -> None:
    """Run a `@hydra.main` entry point with every error a user can cause told in one line.

    Hydra prints a bad override or option (`data.batch_size=abc`, `model=foo`, a key no argument
    takes), which it finds when it composes the config, before any callback exists, in several
    lines with a hint. With HYDRA_FULL_ERROR=1 it raises it instead: set here, so that it reaches
    this function. A user's own HYDRA_FULL_ERROR=1 keeps Hydra's and Python's tracebacks.
    """
    if full_error():
        main()
        return
    os.environ["HYDRA_FULL_ERROR"] = os.environ[ONE_LINE_ERRORS] = "1"
    previous_hook, threading.excepthook = threading.excepthook, _quiet_thread_disk_errors
    try:
        main()
    except (HydraException, OmegaConfBaseException) as err:
        raise SystemExit(f"{_program()}: {describe(err)}") from None
    except (OSError, ValueError) as err:
        if isinstance(err, ValueError) and _raised_in_hydra(err):  # its command line's usage
            raise SystemExit(f"{_program()}: {err}") from None  # (e.g. -m with --cfg job)
        # The machine's answer (a name too long, a read-only or full disk), also where logging
        # wraps it when it opens the run's log file (ValueError: Unable to configure handler).
        cause = err if isinstance(err, OSError) else err.__cause__
        if not isinstance(cause, OSError):
            raise
        where = f": {cause.filename}" if cause.filename else ""
        raise SystemExit(f"{_program()}: {cause.strerror or cause}{where}") from None
    finally:
        threading.excepthook = previous_hook


DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)


def _quiet_thread_disk_errors(args: threading.ExceptHookArgs) -> None:
    """A full or read-only disk met by a writer thread (TensorBoard's event writer): the thread's
    owner raises the same error in the run, which tells it in one line; not also a traceback."""
    if isinstance(args.exc_value, OSError) and args.exc_value.errno in DISK_ERRORS:
        return
    threading.__excepthook__(args)


def _raised_in_hydra(error: BaseException) -> bool:
    """Whether Hydra itself raised `error` (its checks of the command line), not code it ran."""
    last = error.__traceback__
    while last is not None and last.tb_next is not None:
        last = last.tb_next
    return last is not None and last.tb_frame.f_globals.get("__name__", "").startswith("hydra.")


def describe(error: BaseException) -> str:
    """`error` in one line; a config error names the key, the value and what is wrong."""
    if isinstance(error, MissingConfigException) and error.options is not None:
        group, _, option = str(error.missing_cfg_file).rpartition("/")
        return f"{group}={option}: no such option; allowed: {', '.join(error.options)}"
    cause = error.__cause__ if isinstance(error, HydraException) else None
    if isinstance(cause, OmegaConfBaseException):
        return _describe_omegaconf(cause)
    if isinstance(error, OmegaConfBaseException):
        return _describe_omegaconf(error)
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not isinstance(error, (*USER_ERRORS, HydraException)):
        lines.insert(0, f"{type(error).__name__}:")
    return " ".join(lines) or type(error).__name__


def _describe_omegaconf(error: OmegaConfBaseException, prefix: str = "") -> str:
    key = ".".join(str(k) for k in (prefix, error.full_key) if k not in ("", None))
    if isinstance(error, MissingMandatoryValue):
        return f"{key}=???: required; set it on the command line ({key}=...)"
    if isinstance(error, (ConfigKeyError, ConfigAttributeError)):  # a key no argument takes
        return f"{key}: no such key; {_allowed_keys(error, prefix or key.rpartition('.')[0])}"
    message = str(error.msg).split("\n", 1)[0]
    value = f"={error.value}" if getattr(error, "value", None) is not None else ""
    return f"{key}{value}: {message}"


def _allowed_keys(error: OmegaConfBaseException, parent: str) -> str:
    if dataclasses.is_dataclass(error.object_type):
        keys = [f.name for f in dataclasses.fields(error.object_type)]
    else:
        keys = list(error.parent_node or ())
    keys = [k for k in keys if not str(k).startswith("_")]
    close = difflib.get_close_matches(str(error.key), keys, n=1)
    dotted = f"{parent}." if parent else ""
    if close:
        return f"did you mean {dotted}{close[0]}?"
    return f"{parent or 'it'} takes: {', '.join(keys)}"


def _program() -> str:
    return Path(sys.argv[0]).name


class CheckConfig(Callback):
    """Hydra callback: `check_config` before anything runs; a bad value stops the run, or a sweep
    in which every job has one, in one line and before any folder is made."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_config(config)
        except (ConfigError, OmegaConfBaseException) as err:
            _stop(err)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        jobs = planned_jobs(config)
        if not jobs:
            return
        first_error = None
        for overrides in jobs:  # until a job that can run
            try:
                check_config(compose(config.hydra.job.config_name, overrides=overrides))
                break
            except (ConfigError, HydraException, OmegaConfBaseException) as err:
                first_error = first_error or err
        else:
            _stop(
                first_error,
                f"each of the {len(jobs)} jobs of this sweep has a bad value, the first: ",
            )
        # Missing data stops the sweep here, once, rather than each of its jobs (or each job
        # downloads it again). One job is composed per setting of the keys the data depends on
        # (a compose costs about 0.1 s: a sweep of hundreds of jobs would wait minutes).
        datasets = set()
        for overrides in {_data_overrides(job): job for job in jobs}.values():
            try:
                data = compose(config.hydra.job.config_name, overrides=overrides).get("data")
            except (HydraException, OmegaConfBaseException):
                continue  # a job with a bad value: told when it runs
            if data:
                datasets.add((data.data_dir or default_data_dir(), data.dataset, data.download))
        for data_dir, dataset, download in sorted(datasets):
            try:
                ensure_files(data_dir, dataset, download)
            except DataFilesError as err:
                _stop(err, f"{len(jobs)} jobs not started: ")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.get("optimizer") and OmegaConf.select(config, "trainer.max_epochs") == -1:
            log.info("trainer.max_epochs=-1: training goes on until it is stopped (Ctrl+C, "
                     "trainer.max_steps or trainer.max_time)")  # fmt: skip


def _stop(error: BaseException, context: str = "") -> typing.NoReturn:
    if full_error():
        sys.excepthook(type(error), error, error.__traceback__)
    raise SystemExit(f"{_program()}: {context}{describe(error)}")


def _data_overrides(overrides: list[str]) -> tuple[str, ...]:
    """The overrides of a job that can change which data files it reads."""
    groups = ("data", "paths", "experiment")
    return tuple(o for o in overrides if o.lstrip("+~").split("=")[0].split(".")[0] in groups)


def planned_jobs(config: DictConfig) -> list[list[str]] | None:
    """The overrides of each job a sweep can run: every combination of its swept values, as
    Hydra's basic sweeper makes them. None if a value is a range to sample from (Optuna's
    `interval`), or when the recipe sweeper sweeps recipes, each with its own sweep."""
    sweeper = config.hydra.sweeper
    arguments = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    arguments += list(config.hydra.overrides.task)
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    overrides = parser.parse_overrides(arguments)
    recipe_group = sweeper.get("recipe_group")
    if any(o.key_or_group == recipe_group and o.is_sweep_override() for o in overrides):
        return None
    from hydra_plugins.recipe_sweeper import cartesian_jobs  # the sweeper's own expansion

    try:
        return cartesian_jobs(overrides)
    except HydraException:  # not a list of values
        return None


class ReportJobs(Callback):
    """Hydra callback: a failed run or job in one line (a traceback only for errors that are not
    the user's, or with HYDRA_FULL_ERROR=1), in its log and its `error.txt`. A sweep goes on with
    its other jobs, then lists the failed ones and prints and writes a summary of all its jobs."""

    def __init__(self) -> None:
        # Jobs run in this process (a launcher that runs them elsewhere, such as joblib's, calls
        # on_job_end there); the recipe sweeper lists the folders of every job in SWEEP_JOBS_FILE.
        self.job_dirs: list[Path] = []

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        job_dir = Path(config.hydra.runtime.output_dir)
        self.job_dirs.append(job_dir)
        if job_return.status != JobStatus.FAILED:
            (job_dir / ERROR_FILE).unlink(missing_ok=True)  # from an earlier try of this job
            return
        try:
            error = job_return.return_value  # a failed job's error, raised
        except Exception as raised:
            error = raised
        sweep = config.hydra.mode == RunMode.MULTIRUN
        line = describe(error)
        try:
            write_atomically(job_dir / ERROR_FILE, line + "\n")
        except OSError as err:  # a full disk, which may be why the job failed
            print(
                f"{_program()}: {job_dir / ERROR_FILE} not written: {err.strerror}", file=sys.stderr
            )
        # A traceback for errors that are neither the user's nor the machine's (a full disk), or
        # for all with HYDRA_FULL_ERROR=1 (with which Hydra raises a single run's error itself).
        traceback_wanted = full_error() or not isinstance(error, (*USER_ERRORS, OSError))
        _log_to_files(f"Failed: {line}", error if traceback_wanted else None)
        if traceback_wanted and (sweep or not full_error()):
            traceback.print_exception(error)
        job = f"job {config.hydra.job.num} failed: " if sweep else ""
        print(f"{_program()}: {job}{line}", file=sys.stderr)
        if sweep:
            # Hydra's sweepers raise a failed job's error once its batch of jobs is done: the sweep
            # would end there, without on_multirun_end. Its error is told; the job returns nothing
            # (an Optuna trial then counts as failed) and the sweep ends with the list of failures.
            job_return.status = JobStatus.COMPLETED
            job_return.return_value = None

    def on_run_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status == JobStatus.FAILED and not full_error():
            raise SystemExit(1)  # told by on_job_end; Hydra would tell it again, with a traceback

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir).absolute()
        found = [
            p.parent for name in (METRICS_FILE, ERROR_FILE) for p in sweep_dir.glob(f"*/{name}")
        ]
        listed = sweep_dir / SWEEP_JOBS_FILE
        if listed.is_file():
            found += [Path(line) for line in listed.read_text().splitlines() if line]
        jobs = sorted({*self.job_dirs, *found}, key=_job_order)
        overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
        common = {o.input_line for o in overrides if not o.is_sweep_override()}
        rows = [job_summary(job, config.hydra.output_subdir, common) for job in jobs]
        print_summary(f"Sweep {sweep_dir}", [r for r in rows if not r["error"]])
        try:
            write_summary(sweep_dir, rows)
        except OSError as err:
            print(f"{_program()}: the sweep's summary not written: {err.strerror}", file=sys.stderr)
        failed = [r for r in rows if r["error"]]
        if failed:
            lines = [f"{len(failed)} of {len(rows)} jobs failed:"]
            lines += [f"  {r['job']}: {r['error']}" for r in failed]
            print("\n".join(lines), file=sys.stderr)
            raise SystemExit(1)


def _log_to_files(message: str, error: BaseException | None) -> None:
    """Log an error to the job's log file only: the console gets it on stderr, not on stdout
    (where Hydra's console handler writes)."""
    exc_info = (type(error), error, error.__traceback__) if error else None
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None, exc_info)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _job_order(job_dir: Path) -> tuple[str, int, str]:
    number = re.match(r"\d+", job_dir.name)
    return str(job_dir.parent), int(number.group()) if number else -1, job_dir.name


def job_summary(job_dir: Path, hydra_subdir: str | None, common: set[str]) -> dict[str, Any]:
    """One row of a sweep's summary: a job's choices and final metrics, or its error. The job is
    named by its number and the overrides of its own (those of every job, `common`, left out)."""
    overrides_file = job_dir / str(hydra_subdir) / "overrides.yaml"
    given = OmegaConf.load(overrides_file) if hydra_subdir and overrides_file.is_file() else []
    common = {o.lower() for o in common}  # Hydra records `false` as `False` in a job's overrides
    own = [o for o in given if o.lower() not in common]
    number = re.match(r"\d*", job_dir.name).group() or job_dir.name
    row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS, "") | {"error": ""}
    if (job_dir / ERROR_FILE).is_file():
        error = (job_dir / ERROR_FILE).read_text().strip()
        return row | {"job": " ".join([number, *own]), "error": error}
    if not (job_dir / METRICS_FILE).is_file():
        error = f"no {METRICS_FILE} (the job did not finish)"
        return row | {"job": " ".join([number, *own]), "error": error}
    shown = ("model", "data", "seed")  # a finished job's columns of their own
    row["job"] = " ".join([number, *(o for o in own if o.split("=")[0].lstrip("+~") not in shown)])
    record = json.loads((job_dir / METRICS_FILE).read_text())
    choices, metrics = record.get("choices", {}), record.get("metrics", {})
    row.update({k: choices[k] for k in ("model", "data") if k in choices})
    row.update({k: record[k] for k in ("seed", "num_parameters", "fit_seconds") if k in record})
    row.update({k: metrics[k] for k in ("test/acc", "val/acc_best") if k in metrics})
    return row


def _shown(column: str, value: Any) -> str:
    if isinstance(value, float) and "acc" in column:
        return f"{value:.4f}"  # a fraction, as the run's own table and TensorBoard show it
    if isinstance(value, float):
        return f"{value:.1f}"
    return f"{value:,}" if _is_int(value) and column == "num_parameters" else str(value)


def print_summary(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"{title}: {len(rows)} finished")
    for column in SUMMARY_COLUMNS:
        table.add_column(column, justify="left" if column in ("job", "model", "data") else "right")
    for row in rows:
        table.add_row(*(_shown(c, row[c]) for c in SUMMARY_COLUMNS))
    console = Console()
    console.width = max(console.width, 120)  # a log file is no 80-column terminal
    console.print(table)


def write_summary(sweep_dir: Path, rows: Iterable[dict[str, Any]]) -> None:
    """`summary.csv` (the values as recorded) and `summary.md` (as printed) of a sweep's jobs."""
    rows = list(rows)
    columns = (*SUMMARY_COLUMNS, "error")
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    # Metrics are float32 values: 0.8891000151634216 is 0.8891 with its noise, which the CSV drops.
    writer.writerows(
        {k: round(v, 6) if isinstance(v, float) else v for k, v in r.items()} for r in rows
    )
    write_atomically(sweep_dir / "summary.csv", text.getvalue())
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = (_shown(c, row[c]).replace("|", "\\|") for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    write_atomically(sweep_dir / "summary.md", "\n".join(lines) + "\n")
