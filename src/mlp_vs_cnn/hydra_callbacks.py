"""The Hydra callbacks of every command (conf/hydra/default.yaml) and of an Optuna search.

    CheckConfig          before a run or sweep    a bad config value stops it in one line, before
                                                  any folder is made
    RunFolderGuard       before a single run      leaves a finished run's folder alone, refuses to
                                                  write into another run's unfinished one
    ReportJobs           after each job, sweep    one-line errors in the log and error.txt, the
                                                  sweep's list of failures and its summary
    OptunaStorageFolder  before an Optuna sweep   the folder of its SQLite file

`check_run` checks a run's config and builds its data module and classifier, once; `check_job` is
that check for one job of a sweep, in the job's own process: the entry points call it first, so that
a job with a bad value fails alone (an error raised by a callback's `on_job_start` would end the
whole sweep).
"""

from __future__ import annotations

import io
import logging
import os
import sqlite3
import sys
import traceback
from contextlib import closing, redirect_stderr
from pathlib import Path
from typing import Any

from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus, env_override
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mlp_vs_cnn.checks import check_config
from mlp_vs_cnn.data import DataFilesError
from mlp_vs_cnn.data.datamodule import default_data_dir
from mlp_vs_cnn.data.idx import ensure_files
from mlp_vs_cnn.errors import USER_ERRORS, ConfigError, describe, full_error, program, stop
from mlp_vs_cnn.record import (
    ERROR_FILE,
    METRICS_FILE,
    SWEEP_JOBS_FILE,
    job_order,
    job_summary,
    print_summary,
    write_atomically,
    write_summary,
)
from mlp_vs_cnn.run_folders import RunFolderError, check_run_folder, in_sweep
from mlp_vs_cnn.training import prepare

log = logging.getLogger(__name__)


def check_run(cfg: DictConfig, keep: bool = True) -> None:
    """`check_config`, then what the run builds from its config (`training.prepare`: a training
    run's data module and classifier, an evaluation's data module): their construction is the
    check of their classes' own arguments, and with `keep` the run uses them instead of building
    them again."""
    check_config(cfg)
    prepare(cfg, keep)


def check_job(cfg: DictConfig) -> None:
    """`check_run` for a job of a sweep (a single run was checked by `CheckConfig` before its
    folder was made); a bad value raises `ConfigError`, which fails this job alone."""
    if in_sweep():
        check_run(cfg)


class CheckConfig(Callback):
    """Hydra callback: `check_run` before anything runs; a bad value stops the run, or a sweep
    in which every job has one, in one line and before any folder is made."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            # Hydra sets hydra.job.env_set around the task function only: the objects built
            # here for the run must see the same environment.
            with env_override(config.hydra.job.env_set):
                check_run(config)
        except (ConfigError, OmegaConfBaseException) as err:
            stop(err)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        jobs = planned_jobs(config)
        if not jobs:
            return
        first_error = None
        for overrides in jobs:  # until a job that can run
            try:
                check_run(compose(config.hydra.job.config_name, overrides=overrides), keep=False)
                break
            except (ConfigError, HydraException, OmegaConfBaseException) as err:
                first_error = first_error or err
        else:
            stop(
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
                stop(err, f"{len(jobs)} jobs not started: ")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.get("optimizer") and OmegaConf.select(config, "trainer.max_epochs") == -1:
            log.info("trainer.max_epochs=-1: training goes on until it is stopped (Ctrl+C, "
                     "trainer.max_steps or trainer.max_time)")  # fmt: skip


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
            # A failed job's error, raised; the getter also writes Hydra's own "Error executing
            # job" line to stderr, which this line replaces.
            with redirect_stderr(io.StringIO()):
                error = job_return.return_value
        except Exception as raised:
            error = raised
        sweep = config.hydra.mode == RunMode.MULTIRUN
        line = describe(error)
        try:
            write_atomically(job_dir / ERROR_FILE, line + "\n")
        except OSError as err:  # a full disk, which may be why the job failed
            print(
                f"{program()}: {job_dir / ERROR_FILE} not written: {err.strerror}", file=sys.stderr
            )
        # A traceback for errors that are neither the user's nor the machine's (a full disk), or
        # for all with HYDRA_FULL_ERROR=1 (with which Hydra raises a single run's error itself).
        traceback_wanted = full_error() or not isinstance(error, (*USER_ERRORS, OSError))
        _log_to_files(f"Failed: {line}", error if traceback_wanted else None)
        if traceback_wanted and (sweep or not full_error()):
            traceback.print_exception(error)
        job = f"job {config.hydra.job.num} failed: " if sweep else ""
        print(f"{program()}: {job}{line}", file=sys.stderr)
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
        jobs = sorted({*self.job_dirs, *found}, key=job_order)
        overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
        common = {o.input_line for o in overrides if not o.is_sweep_override()}
        rows = [job_summary(job, config.hydra.output_subdir, common) for job in jobs]
        print_summary(f"Sweep {sweep_dir}", [r for r in rows if not r["error"]])
        try:
            write_summary(sweep_dir, rows)
        except OSError as err:
            print(f"{program()}: the sweep's summary not written: {err.strerror}", file=sys.stderr)
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


class RunFolderGuard(Callback):
    """Hydra callback: before a single run writes anything into its folder (`hydra.run.dir`),
    leave a finished run there alone and refuse to mix a new run into an unfinished one.

    Sweep jobs get new folders (`${job_folder:...}` in conf/hydra/default.yaml) unless they
    resume; `train` checks those with the same `check_run_folder`.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        HydraConfig.instance().set_config(config)  # the folder's name reads ${hydra:...} values
        folder = config.hydra.run.dir
        try:
            max_epochs = OmegaConf.select(config, "trainer.max_epochs")
            record = check_run_folder(folder, config.get("ckpt_path"), max_epochs)
        except RunFolderError as err:
            stop(err)
        if record is not None:
            metrics = ", ".join(f"{k} {v:.4f}" for k, v in sorted(record["metrics"].items()))
            print(
                f"{folder} holds a finished run of {record.get('epochs')} epochs; nothing to do "
                f"({metrics}). A larger trainer.max_epochs trains it further."
            )
            sys.exit(0)


class OptunaStorageFolder(Callback):
    """Hydra callback: make the folder of the Optuna SQLite file before the sweeper opens it.

    SQLite creates the file but not its folder, and the study is opened before any job runs.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        storage = config.hydra.sweeper.get("storage") or ""
        if not storage.startswith("sqlite:///"):
            return
        path = Path(storage.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():  # a damaged study file would end the sweep in SQLAlchemy's trace
            try:
                with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                    db.execute("PRAGMA schema_version").fetchone()
            except sqlite3.Error as err:
                raise SystemExit(
                    f"{Path(sys.argv[0]).name}: {path} is not a readable Optuna study ({err}). "
                    f"Move it away to start the study afresh, or set hydra.sweeper.storage to "
                    f"another file."
                ) from None
        if not os.access(path if path.is_file() else path.parent, os.W_OK):
            raise SystemExit(
                f"{Path(sys.argv[0]).name}: {path} cannot be written (a read-only file or disk): "
                f"the search records every trial there. Copy it somewhere writable and set "
                f"hydra.sweeper.storage=sqlite:///<the copy>."
            )
