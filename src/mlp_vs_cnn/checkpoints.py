"""Checkpoints of this project: write them atomically, read them safely, check them against a run,
rebuild the classifier.

A checkpoint is read with `weights_only=True` (tensors and plain values, never pickled code). It
names its network (the classifier's `net` config) and its data config (the data module's
hyperparameters and state: dataset, image size, pixel permutation), which is what the checks
below compare with the run that wants to use it, for resuming (`train.py`) as for evaluating
(`eval.py`, `scripts/visualize.py`).
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.models.classifier import ImageClassifier
from mlp_vs_cnn.record import write_atomically

ALLOWED_NET_PREFIX = "mlp_vs_cnn.models."


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made atomic on local disks: the checkpoint goes to a
    temporary file in the target's own folder, is flushed to disk, then renamed over the target.

    Lightning's own writer (through fsspec) puts the temporary file in $TMPDIR and moves it: across
    filesystems that is a copy which truncates the target first, so a killed or failed save
    (a full disk) loses the previous checkpoint. Here the previous file stays intact until the
    new one is complete, and a failed save leaves no temporary file (one left by a killed
    process is removed by the next save). `conf/trainer/default.yaml` installs it.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        try:
            write_atomically(path, lambda f: torch.save(checkpoint, f))
        except RuntimeError as err:  # torch's writer says "enforce fail at inline_container.cc"
            free = shutil.disk_usage(Path(path).parent).free
            raise OSError(
                errno.EIO,
                f"The checkpoint could not be written ({free / 2**20:.0f} MiB free there; the "
                f"previous one is intact). Free some space, then resume with ckpt_path=last",
                str(path),
            ) from err


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked; the message says why and what to do."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint's tensors and plain values only (`weights_only`: no pickled code)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated file or a pickle with objects other than tensors
        raise CheckpointError(
            f"{path} cannot be loaded safely as a checkpoint of this project ({err})."
        ) from err
    net = checkpoint.get("hyper_parameters", {}).get("net")
    if not isinstance(net, dict) or not str(net.get("_target_", "")).startswith(ALLOWED_NET_PREFIX):
        raise CheckpointError(
            f"{path} is not a checkpoint of this project: it names no network under "
            f"{ALLOWED_NET_PREFIX}."
        )
    if not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(f"{path} holds no weights (no state_dict): it is not a checkpoint.")
    return checkpoint


def data_state(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The data module's saved state (dataset, image size, permutation), `{}` if none."""
    return dict(checkpoint.get(ImageDataModule.__qualname__) or {})


def check_network(checkpoint: Mapping[str, Any], model: ImageClassifier, path: str | Path) -> None:
    """Refuse a checkpoint of another network than `model` (a resume with other configs)."""
    saved, ours = checkpoint["hyper_parameters"], model.hparams
    if saved.get("net") != ours.net or saved.get("num_classes") != ours.num_classes:
        raise CheckpointError(
            f"{path} holds another network than this run builds: it has "
            f"{_describe(saved.get('net'))} with {saved.get('num_classes')} classes, this run "
            f"{_describe(ours.net)} with {ours.num_classes} classes. Resume with the model and "
            f"data configs it was trained with, or drop ckpt_path to start afresh."
        )


def check_data(checkpoint: Mapping[str, Any], datamodule: ImageDataModule, path) -> None:
    """Refuse data of another dataset, image size or variant than the checkpoint was trained on.

    A permuted model is only used on permuted data (its own permutation is then restored by
    `ImageDataModule.load_state_dict`), an unpermuted one only on unpermuted data.
    """
    net = checkpoint["hyper_parameters"]["net"]
    trained_size = net.get("image_size")
    if trained_size != datamodule.image_size:
        raise CheckpointError(
            f"{path} holds a network for {trained_size}x{trained_size} images but this data "
            f"config gives {datamodule.image_size}x{datamodule.image_size}. Pick a data config of "
            f"the same size (a 56x56 model is evaluated with data=mnist_shifted or "
            f"fashion_shifted; data.eval_placement=center tests it on centred images)."
        )
    trained = data_state(checkpoint)
    trained_dataset = trained.get("dataset")
    if trained_dataset and trained_dataset != datamodule.dataset:
        raise CheckpointError(
            f"{path} was trained on {trained_dataset}, not {datamodule.dataset}: its classes "
            f"mean something else. Use a {trained_dataset} data config."
        )
    if trained and ("permutation" in trained) != (datamodule.permutation is not None):
        was = "permuted" if "permutation" in trained else "unpermuted"
        now = "unpermuted" if datamodule.permutation is None else "permuted"
        raise CheckpointError(
            f"{path} was trained on {was} pixels but this data config gives {now} ones. Use a "
            f"{was} data config (its own permutation is restored from the checkpoint)."
        )


# What a data module's settings decide of a run: a resume with other values would train on
# something else than its record says (the data folder, download and evaluation batch do not).
RESUME_DATA_KEYS = (
    "dataset", "batch_size", "val_size", "split_seed", "normalize", "mean", "std", "canvas_size",
    "train_placement", "eval_placement", "eval_seed", "shuffle_seed", "permutation_seed",
    "permutation_scope", "block_size", "limit_train_samples", "limit_eval_samples",
    "pixel_transform",
)  # fmt: skip


def check_resume_data(checkpoint: Mapping[str, Any], datamodule: ImageDataModule, path) -> None:
    """Refuse to resume with other data settings than the checkpoint was trained with (another
    seed, block size, permutation, batch): the run would go on with one and be recorded as the
    other."""
    saved = checkpoint.get("datamodule_hyper_parameters") or {}
    differ = [
        f"data.{key}={saved[key]} (this run: {datamodule.hparams.get(key)})"
        for key in RESUME_DATA_KEYS
        if key in saved and saved[key] != datamodule.hparams.get(key)
    ]
    if differ:
        seed = " (data.shuffle_seed is the run's seed)" if "shuffle_seed" in str(differ) else ""
        raise CheckpointError(
            f"{path} was trained with {', '.join(differ)}{seed}: a resumed run goes on with its "
            f"checkpoint's data and would be recorded as this one's. Resume with the settings it "
            f"was trained with, or drop ckpt_path to start afresh."
        )


def load_classifier(checkpoint: Mapping[str, Any], path: str | Path = "") -> ImageClassifier:
    """Rebuild the classifier a checkpoint (from `read_checkpoint`) holds, weights included."""
    hparams = checkpoint["hyper_parameters"]
    try:
        model = ImageClassifier(net=hparams["net"], num_classes=hparams.get("num_classes", 10))
        model.load_state_dict(checkpoint["state_dict"])
    except (InstantiationException, RuntimeError, TypeError, ValueError) as err:
        # A network this code cannot build, or weights of other shapes than it builds.
        reason = " ".join(str(err).split())[:300]
        raise CheckpointError(
            f"{path} cannot be rebuilt by this code ({reason}): it was written by another "
            f"version of the project or edited."
        ) from None
    return model


def _describe(net: Mapping[str, Any] | None) -> str:
    if not net:
        return "no network config"
    name = str(net.get("_target_", "?")).rsplit(".", 1)[-1]
    args = ", ".join(f"{k}={v}" for k, v in net.items() if k != "_target_")
    return f"{name}({args})"
