"""How an entry point stops on a user's error: in one line, with no traceback
(`HYDRA_FULL_ERROR=1` shows one).

`run` starts an entry point so that a bad override or option, which Hydra finds when it composes
the config and prints in several lines, is told in one line, as is the machine's answer to a
write (a full or read-only disk). `describe` puts any error in that one line; `stop` ends the
command with it.
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import logging
import os
import sys
import threading
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.errors import HydraException, MissingConfigException
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
)

from mlp_vs_cnn.checkpoints import CheckpointError
from mlp_vs_cnn.data import DataFilesError
from mlp_vs_cnn.run_folders import RunFolderError

# `run` asks Hydra for raised errors with HYDRA_FULL_ERROR=1 and marks that it did so here (jobs
# started in other processes inherit both), to tell it from a user's own HYDRA_FULL_ERROR=1.
ONE_LINE_ERRORS = "MLP_VS_CNN_ONE_LINE_ERRORS"


class ConfigError(ValueError):
    """A config value a run cannot use; the message names the key, the value and what is allowed."""


# Errors a user causes and whose message says what to do: one line, no traceback.
USER_ERRORS = (ConfigError, CheckpointError, DataFilesError, FloatingPointError, RunFolderError)


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
    # A log file that cannot be written (a full disk) is dropped, not told with logging's own
    # traceback: the run's next write meets the same error and tells it in one line.
    previous_raise, logging.raiseExceptions = logging.raiseExceptions, False
    try:
        main()
    except (HydraException, OmegaConfBaseException) as err:
        raise SystemExit(f"{program()}: {describe(err)}") from None
    except (OSError, ValueError) as err:
        if isinstance(err, ValueError) and _raised_in_hydra(err):  # its command line's usage
            raise SystemExit(f"{program()}: {err}") from None  # (e.g. -m with --cfg job)
        # The machine's answer (a name too long, a read-only or full disk), also where logging
        # wraps it when it opens the run's log file (ValueError: Unable to configure handler).
        cause = err if isinstance(err, OSError) else err.__cause__
        if not isinstance(cause, OSError):
            raise
        where = f": {cause.filename}" if cause.filename else ""
        raise SystemExit(f"{program()}: {cause.strerror or cause}{where}") from None
    finally:
        threading.excepthook = previous_hook
        logging.raiseExceptions = previous_raise


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
        return describe_omegaconf(cause)
    if isinstance(error, OmegaConfBaseException):
        return describe_omegaconf(error)
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not isinstance(error, (*USER_ERRORS, HydraException)):
        lines.insert(0, f"{type(error).__name__}:")
    return " ".join(lines) or type(error).__name__


def describe_omegaconf(error: OmegaConfBaseException, prefix: str = "") -> str:
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


def program() -> str:
    return Path(sys.argv[0]).name


def stop(error: BaseException, context: str = "") -> typing.NoReturn:
    if full_error():
        sys.excepthook(type(error), error, error.__traceback__)
    raise SystemExit(f"{program()}: {context}{describe(error)}")
