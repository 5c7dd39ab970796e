"""Shared fixtures: tiny IDX datasets written by the tests; the real configs composed in-process."""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = str(ROOT / "conf")
REAL_DATA_DIR = Path(os.environ.get("DATA_DIR", ROOT.parent / "shared" / "data"))

DATA_CONFIGS = [
    "mnist",
    "mnist_shifted",
    "mnist_permuted",
    "mnist_block_local",
    "mnist_block_shuffle",
    "fashion",
    "fashion_shifted",
    "fashion_permuted",
    "fashion_block_local",
    "fashion_block_shuffle",
    "mnist_position",
    "fashion_position",
]
MODEL_CONFIGS = sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml"))


def write_idx(path: Path, array: torch.Tensor, gz: bool = True) -> Path:
    """Write a uint8 tensor as an IDX file (gzipped if `gz`), the format of MNIST."""
    header = struct.pack(">I", 0x0800 | array.dim()) + struct.pack(f">{array.dim()}I", *array.shape)
    content = header + array.to(torch.uint8).contiguous().numpy().tobytes()
    path = path.with_name(path.name + ".gz") if gz else path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


def make_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Learnable toy digits: class k lights a bright block whose position depends on k."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 40, (n, 28, 28), generator=g, dtype=torch.uint8)
    for k in range(10):
        row, col = 4 + 2 * (k // 5) * 5, 3 + 4 * (k % 5)
        images[labels == k, row : row + 6, col : col + 4] = 255
    return images, labels.to(torch.uint8)


def write_dataset(root: Path, dataset: str, n_train: int = 600, n_test: int = 200, gz=True) -> Path:
    raw = root / dataset / "raw"
    for split, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = make_images(n, seed)
        write_idx(raw / f"{split}-images-idx3-ubyte", images, gz)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels, gz)
    return root


@pytest.fixture(scope="session")
def fixture_data_dir(tmp_path_factory) -> Path:
    """A data folder with tiny MNIST and FashionMNIST IDX files (gzipped)."""
    root = tmp_path_factory.mktemp("data")
    for dataset in ("MNIST", "FashionMNIST"):
        write_dataset(root, dataset)
    return root


def compose_config(
    *overrides: str, config_name: str = "train", data_dir: Path, work_dir: Path
) -> DictConfig:
    """Compose `conf/<config_name>.yaml` with overrides, reading `data_dir`, writing in `work_dir`.

    Small data splits (val_size 100 of the 600 fixture images) and CPU by default.
    """
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        defaults = [
            f"paths.data_dir={data_dir}",
            f"paths.log_dir={work_dir / 'logs'}",
            "trainer.accelerator=cpu",
            f"hydra.runtime.output_dir={work_dir / 'run'}",
        ]
        if config_name == "train" or any(o.startswith("data=") for o in overrides):
            defaults.append("data.val_size=100")
        cfg = compose(config_name, overrides=[*defaults, *overrides], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    Path(cfg.paths.output_dir).mkdir(parents=True, exist_ok=True)
    return cfg


@pytest.fixture
def compose_cfg(tmp_path, fixture_data_dir) -> Callable[..., DictConfig]:
    """`compose_config` on the fixture data, writing under tmp_path; `data_dir=` reads elsewhere."""

    def _compose(*overrides: str, config_name: str = "train", data_dir: Path | None = None):
        return compose_config(
            *overrides,
            config_name=config_name,
            data_dir=data_dir or fixture_data_dir,
            work_dir=tmp_path,
        )

    yield _compose
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real MNIST/Fashion-MNIST folder (`$DATA_DIR`, else ../shared/data)."""
    if not (REAL_DATA_DIR / "MNIST" / "raw").is_dir():
        pytest.skip(f"needs the real data, not in {REAL_DATA_DIR}: set DATA_DIR to its folder")
    return REAL_DATA_DIR
