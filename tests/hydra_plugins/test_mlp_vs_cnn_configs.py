"""The project's Hydra plugin: `data=<dataset>_<variant>` from conf/data/ and conf/variant/."""

from __future__ import annotations

import shutil

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra

from tests.conftest import CONFIG_DIR, DATA_CONFIGS, ROOT


def data_options(conf_dir) -> dict[str, dict]:
    GlobalHydra.instance().clear()
    datasets = sorted(p.stem for p in (conf_dir / "data").glob("*.yaml"))
    variants = sorted(p.stem for p in (conf_dir / "variant").glob("*.yaml"))
    names = datasets + [f"{d}_{v}" for d in datasets for v in variants]
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        options = {name: compose("train", overrides=[f"data={name}"]).data for name in names}
    GlobalHydra.instance().clear()
    return options


def test_every_dataset_with_every_variant_is_a_data_option_and_they_are_the_documented_ones():
    options = data_options(ROOT / "conf")
    assert sorted(options) == sorted(DATA_CONFIGS)
    assert options["fashion_permuted"].dataset == "FashionMNIST"
    assert options["fashion_permuted"].permutation_seed == 0
    assert options["mnist_shifted"].canvas_size == options["mnist_shifted"].image_size == 56
    assert options["fashion_shifted"].mean == options["fashion"].mean  # the dataset's own keys
    assert options["mnist"].canvas_size is None and options["mnist"].permutation_seed is None


def test_a_new_variant_is_one_yaml_file_and_makes_an_option_of_every_dataset(tmp_path):
    conf = shutil.copytree(CONFIG_DIR, tmp_path / "conf")
    (conf / "variant" / "raw_pixels.yaml").write_text("# @package data\nnormalize: false\n")
    try:
        options = data_options(conf)
    finally:  # the options stay in Hydra's (process-wide) store: not for the other tests
        for name in ("mnist_raw_pixels.yaml", "fashion_raw_pixels.yaml"):
            ConfigStore.instance().repo["data"].pop(name, None)
    assert {"mnist_raw_pixels", "fashion_raw_pixels"} <= set(options)
    for dataset in ("mnist", "fashion"):
        new, base = options[f"{dataset}_raw_pixels"], options[dataset]
        assert new.normalize is False and new.dataset == base.dataset and new.std == base.std
