"""`check_config`: every bad config value gets a one-line answer naming the key, the value and
what is wrong or allowed (from the schemas when Hydra composes the config, or from the checks);
every option and recipe of the project passes.

The cases compose the real configs in-process (a subprocess costs seconds of start-up).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException

from mlp_vs_cnn.checks import check_config
from mlp_vs_cnn.errors import ConfigError, describe
from mlp_vs_cnn.hydra_callbacks import check_run
from tests.conftest import CONFIG_DIR, DATA_CONFIGS, MODEL_CONFIGS, ROOT

# (overrides, the one line that names the key, the value and what is wrong or allowed)
NOT_INT = "Value 'abc' of type 'str' could not be converted to Integer"


BAD_TRAIN_CONFIGS = [
    # Types and keys: refused by the schemas when Hydra composes the config.
    ("data.batch_size=abc", f"data.batch_size=abc: {NOT_INT}"),
    ("data.std=abc", "data.std=abc: Value 'abc' of type 'str' could not be converted to Float"),
    ("data.canvas_size=abc", f"data.canvas_size=abc: {NOT_INT}"),
    ("data.batch_sise=64", "data.batch_sise: no such key; did you mean data.batch_size?"),
    ("+data.foo=3", "data.foo: no such key; data takes: dataset, data_dir, download, batch_size"),
    ("trainer.max_epochs=abc", f"trainer.max_epochs=abc: {NOT_INT}"),
    ("trainer.max_epoch=3", "trainer.max_epoch: no such key; did you mean trainer.max_epochs?"),
    ("trainer.limit_train_batches=abc", "trainer.limit_train_batches=abc: Value 'abc' of type"),
    ("optimizer.weight_decay=abc", "optimizer.weight_decay=abc: Value 'abc' of type 'str' could"),
    ("model=foo", "model=foo: no such option; allowed: cnn_gap, cnn_small, fc_small, lenet5"),
    ("data=kmnist", "data=kmnist: no such option; allowed: fashion, fashion_block_local"),
    ("model.hidden_sizes=[10,abc]", f"model.hidden_sizes[1]=abc: {NOT_INT}"),
    ("+model.hidden_size=[5]", "model.hidden_size: no such key; did you mean model.hidden_sizes?"),
    # Values and relations: refused by check_config before anything runs.
    ("data.batch_size=0", "data.batch_size=0: must be an integer >= 1"),
    ("data.eval_batch_size=-5", "data.eval_batch_size=-5: must be an integer >= 1"),
    ("data.std=0", "data.std=0.0: must be a finite number > 0"),
    ("data.std=nan", "data.std=nan: must be a finite number > 0"),
    ("data.dataset=KMNIST", "data.dataset must be one of ('MNIST', 'FashionMNIST'), got 'KMNIST'"),
    ("data=mnist_shifted data.canvas_size=20", "data.canvas_size must be larger than 28 (a can"),
    ("data=mnist_shifted data.canvas_size=28", "data.canvas_size must be larger than 28 (a can"),
    ("data=mnist_block_local data.block_size=5", "data.block_size"),
    ("data=mnist_block_shuffle data.permutation_seed=null", "data.permutation_seed"),
    ("data.permutation_scope=rows", "data.permutation_scope"),
    ("data=mnist_block_local data.canvas_size=56 data.image_size=56", "canvas"),
    ("data.canvas_size=56", "data.image_size is 28 but the images will be 56x56"),
    ("data=fashion_shifted data.train_placement=left", "data.train_placement must be 'random' or"),
    (
        "data.eval_placement=corner",
        "data.eval_placement must be 'random' or 'center', got 'corner'",
    ),
    ("data.val_size=0", "data.val_size must be between 1 and 59999, got 0"),
    ("data.val_size=60000", "data.val_size must be between 1 and 59999, got 60000"),
    ("data.limit_train_samples=0", "data.limit_train_samples=0: must be an integer >= 1, or null"),
    ("data.limit_eval_samples=-3", "data.limit_eval_samples=-3: must be an integer >= 1, or null"),
    ("data.class_names=[a,b]", "data.class_names has 2 names but data.num_classes=10"),
    ("model.image_size=32", "model.image_size=32 but data.image_size=28: the network must take"),
    ("model=lenet5 model.kernel_size=30", "model (mlp_vs_cnn.models.ConvNet): 28x28 images are"),
    ("model=two_conv_two_fc model.groups=[1]", "groups [1] must have one entry per conv layer"),
    ("optimizer.lr=0", "optimizer.lr=0: must be a finite number > 0"),
    ("optimizer.lr=-1", "optimizer.lr=-1: must be a finite number > 0"),
    ("optimizer.lr=inf", "optimizer.lr=inf: must be a finite number > 0"),
    ("optimizer.lr=abc", "optimizer.lr=abc: must be a finite number > 0"),
    ("optimizer.weight_decay=-1", "optimizer (torch.optim.Adam): Invalid weight_decay value: -1.0"),
    (
        "optimizer=sgd optimizer.momentum=-0.5",
        "optimizer (torch.optim.SGD): Invalid momentum value",
    ),
    ("scheduler=cosine trainer.max_epochs=-1", "T_max=-1 (from ${trainer.max_epochs}): must be"),
    (
        "scheduler=warmup scheduler.scheduler.start_factor=2",
        "(torch.optim.lr_scheduler.LinearLR): ",
    ),
    ("scheduler=plateau scheduler.interval=batch", "scheduler.interval=batch: allowed: epoch or"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0: nothing would be trained; allowed: a number"),
    ("trainer.max_epochs=-2", "trainer.max_epochs=-2: nothing would be trained"),
    ("trainer.max_steps=0", "trainer.max_steps=0: nothing would be trained"),
    ("trainer.limit_train_batches=0", "trainer.limit_train_batches=0: nothing would be trained"),
    (
        "trainer.limit_val_batches=0",
        "val/acc_best needs validation, but trainer.limit_val_batches=0",
    ),
    ("trainer.check_val_every_n_epoch=20", "=20 is more than trainer.max_epochs=10: nothing would"),
    ("+trainer.foo=1", "trainer.foo: no such key; trainer takes: accelerator, strategy"),
    ("optimized_metric=accuracy", "optimized_metric=accuracy: not a metric a run logs"),
    ("test=false optimized_metric=test/acc", "optimized_metric=test/acc needs a test, but test="),
    ("seed=abc", "seed=abc: must be an integer, or null for a random seed"),
    ("num_threads=0", "num_threads=0: must be an integer >= 1, or null to choose by the network"),
    ("ckpt_path=nothing.ckpt", "ckpt_path=nothing.ckpt: no such file; allowed: a .ckpt file or"),
    ("figure_formats=[svg]", "figure_formats=['svg']: allowed: a list of png, pdf"),
]


BAD_EVAL_CONFIGS = [
    ("", "ckpt_path=???: required; set it on the command line (ckpt_path=...)"),
    ("ckpt_path=last", "ckpt_path=last: no such file; allowed: a .ckpt file"),
    ("ckpt_path={ckpt} data=mnist data.batch_size=abc", f"data.batch_size=abc: {NOT_INT}"),
    ("ckpt_path={ckpt} data=mnist data.std=0", "data.std=0: must be a finite number > 0"),
    ("ckpt_path={ckpt} data=mnist +data.foo=1", "data.foo: no such key"),
    ("ckpt_path={ckpt} trainer.devices", "Error parsing override 'trainer.devices' missing EQUAL"),
]


def first_error(compose_cfg: Callable, overrides: str, config_name: str = "train") -> str:
    """The one line a user would read for `overrides`: from Hydra composing, or from the checks."""
    try:
        check_run(compose_cfg(*overrides.split(), config_name=config_name), keep=False)
    except (ConfigError, HydraException) as err:
        return describe(err)
    pytest.fail(f"{overrides!r} was accepted")


@pytest.mark.parametrize(
    ("overrides", "line"), BAD_TRAIN_CONFIGS, ids=[c[0] for c in BAD_TRAIN_CONFIGS]
)
def test_a_bad_training_value_is_refused_in_one_line_naming_key_value_and_what_is_allowed(
    compose_cfg, overrides, line
):
    told = first_error(compose_cfg, overrides)
    assert line in told
    assert "\n" not in told


@pytest.mark.parametrize(
    ("overrides", "line"), BAD_EVAL_CONFIGS, ids=[c[0] for c in BAD_EVAL_CONFIGS]
)
def test_a_bad_evaluation_value_is_refused_in_one_line(compose_cfg, tmp_path, overrides, line):
    ckpt = tmp_path / "some.ckpt"
    ckpt.touch()  # the checks only ask that the file is there
    told = first_error(compose_cfg, overrides.format(ckpt=ckpt), config_name="eval")
    assert line in told
    assert "\n" not in told


def test_figures_not_among_the_callbacks_are_refused(tmp_path):
    ckpt = tmp_path / "some.ckpt"
    ckpt.touch()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("visualize", overrides=[f"ckpt_path={ckpt}", "what=[sample_grids,weights]"])
    with pytest.raises(
        ConfigError, match=r"^what=\['sample_grids', 'weights'\]: weights is not a "
    ):
        check_config(cfg)


@pytest.mark.parametrize(
    "overrides",
    [
        *(f"data={d}" for d in DATA_CONFIGS),
        *(f"model={m} data=mnist_shifted" for m in MODEL_CONFIGS),
        "optimizer=sgd scheduler=cosine",
        "scheduler=plateau",
        "scheduler=warmup",
        "trainer=ddp_sim",
        "debug=fast_dev_run",
        "debug=quick",
        "seed=null",
        "trainer.max_epochs=-1",
        "trainer.max_epochs=null",
        "data.normalize=false data.std=0",
        "ckpt_path=last",
    ],
)
def test_every_option_of_the_project_passes_the_checks(compose_cfg, overrides):
    check_run(compose_cfg(*overrides.split()), keep=False)


@pytest.mark.parametrize("recipe", sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*")))
def test_every_recipe_passes_the_checks(compose_cfg, recipe):
    check_run(compose_cfg(f"experiment={recipe}"), keep=False)
