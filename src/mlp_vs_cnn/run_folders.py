"""Where runs are written: folder names that say what ran, never shared, never overwritten.

OmegaConf resolvers, used by `conf/hydra/default.yaml` (and `${fast_precision:}`, the fastest
precision of this machine, `mlp_vs_cnn.runtime`, by the recipes that ask for it):

    ${job_name:model,data,overrides,seed}  lenet5_mnist_permuted_s1_max_epochs=2_lr=0.1: model,
                                           data, seed, then the other overrides (short keys)
    ${run_folder:path,ckpt_path}           `path`, or `path-2`, `path-3`, ... if it exists: the
                                           folder is made here (os.mkdir is atomic), so two runs
                                           started in the same second get two folders; with
                                           ckpt_path=last the folder is the one asked for (resume)

`check_run_folder` says what a run may do with a folder that already holds a run: resume an
unfinished one, or train a finished one further, from its own checkpoint (`ckpt_path=last` or a
file of its checkpoints/), and nothing else (a finished run is otherwise left as it is).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: runs are not locked
    fcntl = None

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from mlp_vs_cnn.record import METRICS_FILE
from mlp_vs_cnn.runtime import fast_precision

MAX_OVERRIDES_LENGTH = 60  # characters of the overrides in a job name; longer ones are hashed
_claimed: dict[str, str] = {}  # folders this process claimed, by the path asked for


def in_sweep() -> bool:
    """Whether this process runs a job of a sweep (`-m`), not a single run."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def job_name(model: str, data: str, overrides: str | None, seed) -> str:
    """`<model>_<data>_s<seed>[_<overrides>]`, with each override key shortened to its last part
    (`trainer.max_epochs=2` -> `max_epochs=2`, `++trainer.limit_val_batches=0.1` ->
    `limit_val_batches=0.1`): what tells runs apart comes first, where a list that cuts long names
    still shows it."""
    # Overrides joined by "_", not Hydra's ",": a folder name with commas breaks shell globs and
    # tools that split lists on them.
    short = "_".join(_short_override(item) for item in (overrides or "").split(",") if item)
    short = short.replace(os.sep, "%")  # a path in a value must not nest the folder
    if len(short) > MAX_OVERRIDES_LENGTH:
        digest = hashlib.sha1(short.encode()).hexdigest()[:8]
        short = f"{short[: MAX_OVERRIDES_LENGTH - 9]}~{digest}"
    return "_".join(str(part) for part in (model, data, f"s{seed}", short) if part)


def _short_override(item: str) -> str:
    key, equals, value = item.partition("=")  # the value may have dots (0.1) of its own
    return key.lstrip("+~").rsplit(".", 1)[-1] + equals + value


def claim_folder(path: str | Path, ckpt_path: str | None = None) -> str:
    """Make and return a folder for a new run: `path`, else the first free `path-N`.

    Only a resume (`ckpt_path=last`) may use a folder that exists. The same path asked twice in
    one process gets the same answer (Hydra may resolve a run folder more than once).
    """
    path = str(path)
    if ckpt_path == "last":
        return path
    if path not in _claimed:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        candidate, n = path, 1
        while True:
            try:
                os.mkdir(candidate)
                break
            except FileExistsError:
                n += 1
                candidate = f"{path}-{n}"
        _claimed[path] = candidate
    return _claimed[path]


def claim_subfolder(parent: str, name: str, ckpt_path: str | None = None) -> str:
    """`claim_folder` for a sweep job: the name of a free folder under `parent`."""
    return Path(claim_folder(Path(parent) / name, ckpt_path)).name


def finished_record(folder: str | Path) -> dict | None:
    """The record of a finished run in `folder`, or None."""
    try:
        record = json.loads((Path(folder) / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("status") == "finished" else None


class RunFolderError(ValueError):
    """A run asked to write into a folder that holds another run."""


def check_run_folder(
    folder: str | Path, ckpt_path: str | None, max_epochs: int | None = None
) -> dict | None:
    """What a run may do in `folder`: None = go on (a new run, a resume, or a finished run trained
    further: `ckpt_path` of this run and more `max_epochs` than it had); a finished record =
    nothing left to do (`ckpt_path` of a finished run that asks for no more epochs); raises
    `RunFolderError` for any other reuse."""
    folder = Path(folder)
    own_checkpoint = ckpt_path == "last" or (
        bool(ckpt_path) and Path(ckpt_path).resolve().parent == (folder / "checkpoints").resolve()
    )
    record = finished_record(folder)
    if record is not None:
        if not own_checkpoint:
            raise RunFolderError(
                f"{folder} holds a finished run; a new run never writes into it. Drop "
                f"hydra.run.dir to get a new folder, or train it further with ckpt_path=last "
                f"and a larger trainer.max_epochs (it has {record.get('epochs')})."
            )
        more = max_epochs == -1 or (max_epochs or 0) > (record.get("epochs") or 0)
        return None if more else record
    if not own_checkpoint and any((folder / "checkpoints").glob("*.ckpt")):
        raise RunFolderError(
            f"{folder} holds the checkpoints of an unfinished run. Resume it with ckpt_path=last, "
            f"or drop hydra.run.dir to start a new run in a new folder."
        )
    return None


LOCK_FILE = ".lock"  # in a run folder: the PID of the process writing there


@contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold the run folder for this process while it runs: a second process (a sweep resumed
    while it still runs, two resumes of one run) is refused in one line naming the holder.

    An advisory lock (`flock`) on `<folder>/.lock`, which the kernel releases when the process
    ends, however it ends: a dead process never leaves a stale lock. Only the first process of a
    run takes it (the other ranks of `strategy=ddp` share the folder).
    """
    if fcntl is None or os.environ.get("LOCAL_RANK", "0") != "0":
        yield
        return
    path = Path(folder) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            raise RunFolderError(
                f"{folder} is in use by process {holder}, which is running there; wait for it to "
                f"end (or stop it) and run this again."
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("job_name", job_name, replace=True)
    OmegaConf.register_new_resolver("run_folder", claim_folder, replace=True)
    OmegaConf.register_new_resolver("job_folder", claim_subfolder, replace=True)
    OmegaConf.register_new_resolver("fast_precision", fast_precision, replace=True)
