"""What every peer script shares: its command line, the check of its data folder, its epoch line.

A peer is timed from outside, as a whole process, until its first epoch whose test accuracy
reaches `--target`. Its stdout carries only one line per epoch,
`PEER_EPOCH {"epoch": 1, "test_acc": 0.9831, "train_seconds": 12.3}`; everything else goes to
stderr. A peer exits 0 when it reaches the target or runs out of epochs, 1 with one line on
stderr when its data is missing or its setting cannot be run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# Measured from this module's import, before torch loads: the caller times the whole process
# itself; this is a diagnostic.
STARTED = time.perf_counter()
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def peer_parser(description: str, max_epochs: int | None) -> argparse.ArgumentParser:
    """The options every peer takes; `max_epochs` is the published recipe's number of epochs."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, required=True, help="holds <dataset>/raw/*-ubyte")
    parser.add_argument("--dataset", choices=("MNIST", "FashionMNIST"), default="MNIST")
    parser.add_argument("--target", type=float, help="stop at the first epoch reaching this")
    parser.add_argument("--max-epochs", type=int, default=max_epochs)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit-train", type=int, help="only the first N training images")
    parser.add_argument("--limit-test", type=int, help="only the first N test images")
    return parser


def fail(message: str) -> None:
    """Stop the peer with one line on stderr, named after the script."""
    print(f"{Path(sys.argv[0]).name}: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def require_data(root: Path, dataset: str) -> None:
    """Stop in one line unless `root/dataset/raw` holds the four IDX files, decompressed."""
    raw = root / dataset / "raw"
    missing = [name for name in IDX_FILES if not (raw / name).is_file()]
    if missing:
        fail(
            f"{raw} lacks {', '.join(missing)} (the decompressed IDX files; nothing is downloaded)"
        )


def report_epoch(epoch: int, test_acc: float, **extra: float) -> None:
    """Print the epoch's line on stdout, flushed at once so the caller's clock reads it now."""
    seconds = round(time.perf_counter() - STARTED, 3)
    line = {"epoch": epoch, "test_acc": test_acc, "train_seconds": seconds, **extra}
    print("PEER_EPOCH " + json.dumps(line), flush=True)


def target_reached(test_acc: float, target: float | None) -> bool:
    return target is not None and test_acc >= target


def mnist_style_sets(args: argparse.Namespace):
    """The training and test sets of `args.dataset` as the PyTorch example and the Lightning
    template load them: torchvision's class, per sample ToTensor and Normalize with MNIST's mean
    and std (FashionMNIST runs the recipes unchanged, these constants included), cut to
    `--limit-train` / `--limit-test` images."""
    from torch.utils.data import Subset
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]
    )
    dataset_class = getattr(datasets, args.dataset)
    train_set = dataset_class(args.root, train=True, download=False, transform=transform)
    test_set = dataset_class(args.root, train=False, download=False, transform=transform)
    if args.limit_train:
        train_set = Subset(train_set, range(args.limit_train))
    if args.limit_test:
        test_set = Subset(test_set, range(args.limit_test))
    return train_set, test_set
