"""Every bad input gets a one-line answer: config schemas, value checks, failed runs and sweeps.

Most cases compose the real configs in-process (a subprocess costs seconds of start-up); a few run
train.py, eval.py and a sweep from the command line to check what a user sees: one line, no
traceback, a non-zero exit code and no run folder.
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import OmegaConf

from mlp_vs_cnn.checks import check_config
from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.errors import ConfigError, describe
from mlp_vs_cnn.hydra_callbacks import CheckConfig, ReportJobs
from mlp_vs_cnn.record import ERROR_FILE
from mlp_vs_cnn.schemas import schema_of
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
        check_config(compose_cfg(*overrides.split(), config_name=config_name))
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
    check_config(compose_cfg(*overrides.split()))


@pytest.mark.parametrize("recipe", sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*")))
def test_every_recipe_passes_the_checks(compose_cfg, recipe):
    check_config(compose_cfg(f"experiment={recipe}"))


def test_training_until_stopped_is_accepted_and_said_in_the_log(compose_cfg, caplog):
    cfg = compose_cfg("trainer.max_epochs=-1")
    check_config(cfg)
    with caplog.at_level(logging.INFO, logger="mlp_vs_cnn.hydra_callbacks"):
        CheckConfig().on_job_start(config=cfg)
    assert "trainer.max_epochs=-1: training goes on until it is stopped" in caplog.text


# --- Schemas -----------------------------------------------------------------------------------


def test_the_data_schema_has_one_key_per_argument_of_the_data_module_typed_as_annotated():
    fields = {f.name: f for f in dataclasses.fields(schema_of(ImageDataModule))}
    assert list(fields)[1:] == list(inspect.signature(ImageDataModule).parameters)
    assert fields["batch_size"].type is int and fields["batch_size"].default == 256
    assert fields["canvas_size"].type == (int | None)
    assert fields["train_placement"].type is str  # a Literal: ImageDataModule checks the values


class FutureDataModule:
    def __init__(
        self,
        batch_size: int = 256,
        permutation_scope: str = "image",
        block_size: int | None = None,
        placement: Literal["random", "center"] = "random",
        devices: list[int] | str | int = "auto",
        transform: Callable[[Any], Any] | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        **kwargs: Any,
    ) -> None:
        pass


def test_a_new_argument_of_a_class_is_a_new_typed_key_of_its_schema():
    schema = schema_of(FutureDataModule)
    types = {f.name: f.type for f in dataclasses.fields(schema)}
    assert types == {
        "_target_": str,
        "batch_size": int,
        "permutation_scope": str,
        "block_size": int | None,
        "placement": str,
        "devices": Any,  # a union OmegaConf cannot check
        "transform": Any,  # a callable
    }  # betas left out: a config would give a list for its tuple
    cfg = OmegaConf.structured(schema)
    assert (cfg.permutation_scope, cfg.block_size) == ("image", None)
    with pytest.raises(Exception, match="could not be converted to Integer"):
        cfg.block_size = "abc"


# --- Reporting: failed jobs and the end of a sweep ---------------------------------------------


def job_config(job_dir: Path, mode: RunMode, num: int = 0):
    return OmegaConf.create(
        {"hydra": {"runtime": {"output_dir": str(job_dir)}, "mode": mode, "job": {"num": num}}}
    )


def failed(error: BaseException) -> JobReturn:
    return JobReturn(status=JobStatus.FAILED, _return_value=error)


def test_a_failed_job_of_a_sweep_is_told_in_one_line_and_the_sweep_goes_on(tmp_path, capsys):
    job_return = failed(ConfigError("optimizer.lr=-1: must be a finite number > 0"))
    ReportJobs().on_job_end(config=job_config(tmp_path, RunMode.MULTIRUN, 3), job_return=job_return)
    line = "optimizer.lr=-1: must be a finite number > 0"
    assert (tmp_path / ERROR_FILE).read_text() == line + "\n"
    assert capsys.readouterr().err.strip().endswith(f"job 3 failed: {line}")
    # The sweeper does not raise it (which would end the sweep before its summary).
    assert job_return.status == JobStatus.COMPLETED and job_return.return_value is None


def test_a_failed_single_run_exits_non_zero_without_hydra_telling_it_again(tmp_path, capsys):
    job_return = failed(FloatingPointError("The training loss is nan: training diverged."))
    report = ReportJobs()
    report.on_job_end(config=job_config(tmp_path, RunMode.RUN), job_return=job_return)
    err = capsys.readouterr().err
    assert err.count("training diverged") == 1 and "Traceback" not in err
    assert job_return.status == JobStatus.FAILED
    with pytest.raises(SystemExit) as stop:
        report.on_run_end(config=job_config(tmp_path, RunMode.RUN), job_return=job_return)
    assert stop.value.code == 1


def test_an_error_that_is_not_the_users_keeps_its_traceback(tmp_path, capsys):
    try:
        [][0]
    except IndexError as err:
        error = err
    ReportJobs().on_job_end(config=job_config(tmp_path, RunMode.MULTIRUN), job_return=failed(error))
    err = capsys.readouterr().err
    assert "Traceback" in err and "job 0 failed: IndexError: list index out of range" in err


def write_job(sweep_dir: Path, name: str, overrides: list[str], **files: str) -> Path:
    job = sweep_dir / name
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
    for file, text in files.items():
        (job / file.replace("_", ".")).write_text(text)
    return job


def test_the_end_of_a_sweep_lists_its_failed_jobs_and_writes_a_summary_of_all(tmp_path, capsys):
    sweep_dir = tmp_path / "multirun"
    metrics = {
        "choices": {"model": "mlp", "data": "mnist"},
        "seed": 1,
        "num_parameters": 40785,
        "fit_seconds": 12.5,
        "metrics": {"test/acc": 0.9712, "val/acc_best": 0.975, "test/loss": 0.1},
    }
    write_job(
        sweep_dir, "0_model=mlp,seed=1", ["model=mlp", "seed=1"], metrics_json=json.dumps(metrics)
    )
    write_job(
        sweep_dir,
        "1_model=lenet5,seed=1",
        ["model=lenet5", "seed=1"],
        error_txt="optimizer.lr=-1: bad\n",
    )
    config = OmegaConf.create(
        {
            "hydra": {
                "sweep": {"dir": str(sweep_dir)},
                "overrides": {"task": ["model=mlp,lenet5", "seed=1"]},
                "output_subdir": ".hydra",
            }
        }
    )  # fmt: skip
    with pytest.raises(SystemExit) as stop:
        ReportJobs().on_multirun_end(config=config)
    assert stop.value.code == 1
    out, err = capsys.readouterr()
    assert "0.9712" in out and "40,785" in out
    assert err.splitlines() == ["1 of 2 jobs failed:", "  1 model=lenet5: optimizer.lr=-1: bad"]
    with open(sweep_dir / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["job"], r["model"], r["test/acc"], r["error"]) for r in rows] == [
        ("0", "mlp", "0.9712", ""),  # a finished job's model has its own column
        ("1 model=lenet5", "", "", "optimizer.lr=-1: bad"),  # a failed job says what it was
    ]
    assert list(rows[0]) == [
        "job", "model", "data", "seed", "test/acc", "val/acc_best", "num_parameters",
        "fit_seconds", "error",
    ]  # fmt: skip
    markdown = (sweep_dir / "summary.md").read_text().splitlines()
    assert markdown[2] == "| 0 | mlp | mnist | 1 | 0.9712 | 0.9750 | 40,785 | 12.5 |  |"
    assert not list(sweep_dir.glob(".summary*"))  # no temporary file left


# --- From the command line ---------------------------------------------------------------------


def run_script(script: str, *overrides: str, log_dir: Path, **env: str):
    command = [sys.executable, script, *overrides, f"paths.log_dir={log_dir}"]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "overrides", "line"),
    [
        ("train.py", ["data.batch_size=abc"], f"train.py: data.batch_size=abc: {NOT_INT}"),
        ("train.py", ["data.std=0", "model=lenet5"], "train.py: data.std=0.0: must be a finite"),
        (
            "train.py",
            ["-m", "data.std=0,-1", "seed=1,2"],
            "train.py: each of the 4 jobs of this sweep has a bad value, the first: data.std=0.0",
        ),
        ("eval.py", ["data=mnist"], "eval.py: ckpt_path=???: required; set it on the command"),
        (
            "scripts/visualize.py",
            ["ckpt_path=nothing.ckpt"],
            "visualize.py: ckpt_path=nothing.ckpt: no such file; allowed: a .ckpt file",
        ),
    ],
    ids=["compose", "check", "sweep", "eval", "visualize"],
)
def test_a_bad_value_stops_the_command_in_one_line_before_any_folder_is_made(
    tmp_path, fixture_data_dir, script, overrides, line
):
    done = run_script(
        script, *overrides, f"paths.data_dir={fixture_data_dir}", log_dir=tmp_path / "logs"
    )
    assert done.returncode == 1
    (told,) = done.stderr.splitlines()  # one line, no traceback
    assert told.startswith(line) and done.stdout == ""
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_hydra_full_error_still_shows_the_traceback(tmp_path):
    done = run_script("train.py", "data.std=0", log_dir=tmp_path / "logs", HYDRA_FULL_ERROR="1")
    assert done.returncode == 1
    assert (
        "Traceback" in done.stderr and "mlp_vs_cnn.errors.ConfigError: data.std=0.0" in done.stderr
    )
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_a_sweep_runs_its_good_jobs_and_lists_the_failed_ones_beside_its_summary(
    tmp_path, fixture_data_dir
):
    done = run_script(
        "train.py", "-m", "optimizer.lr=-1,0.001", "data.mean=nan,0.1307",
        "trainer.max_epochs=1", "data.batch_size=50", "data.val_size=100",
        "data.limit_eval_samples=100", "logger=none",
        "callbacks.rich_progress_bar=null", "callbacks.rich_model_summary=null",
        "callbacks.activation_maximization=null", f"paths.data_dir={fixture_data_dir}",
        "hydra.sweep.subdir=${hydra.job.num}", log_dir=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    bad_lr = "optimizer.lr=-1: must be a finite number > 0"
    diverged = "training diverged"
    assert done.stderr.count(f"job 0 failed: {bad_lr}") == 1
    end = done.stderr[done.stderr.index("3 of 4 jobs failed:") :].splitlines()
    assert end[1:3] == [
        f"  0 optimizer.lr=-1 data.mean=nan: {bad_lr}",
        f"  1 optimizer.lr=-1 data.mean=0.1307: {bad_lr}",
    ]
    assert end[3].startswith("  2 optimizer.lr=0.001 data.mean=nan: The training loss is nan")
    (sweep_dir,) = (tmp_path / "train" / "multiruns").iterdir()
    jobs = [sweep_dir / str(n) for n in range(4)]
    assert bad_lr in (jobs[0] / "train.log").read_text()
    assert diverged in (jobs[2] / "train.log").read_text()
    assert [(j / ERROR_FILE).exists() for j in jobs] == [True, True, True, False]
    assert [(j / "metrics.json").exists() for j in jobs] == [False, False, False, True]
    with open(sweep_dir / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["job"] for r in rows] == [
        "0 optimizer.lr=-1 data.mean=nan",
        "1 optimizer.lr=-1 data.mean=0.1307",
        "2 optimizer.lr=0.001 data.mean=nan",
        "3 optimizer.lr=0.001 data.mean=0.1307",
    ]
    assert (rows[3]["model"], rows[3]["data"], rows[3]["seed"]) == ("mlp", "mnist", "42")
    assert 0.0 <= float(rows[3]["test/acc"]) <= 1.0 and int(rows[3]["num_parameters"]) == 40_785
    summary = (sweep_dir / "summary.md").read_text()
    assert "| 3 optimizer.lr=0.001 data.mean=0.1307 | mlp | mnist | 42 |" in summary
    assert "Sweep " in done.stdout and "40,785" in done.stdout  # the table of finished runs


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is there: trainer=gpu is fine")
def test_trainer_gpu_without_a_gpu_stops_in_one_line_naming_the_remedy(compose_cfg):
    from mlp_vs_cnn.training import build

    with pytest.raises(ConfigError, match=r"No supported gpu backend found! Use trainer=cpu"):
        build(compose_cfg("trainer=gpu", "trainer.accelerator=gpu", "logger=none"))


def test_a_diverging_loss_is_told_even_when_it_stays_finite(compose_cfg):
    from mlp_vs_cnn.training import train

    cfg = compose_cfg("debug=quick", "optimizer.lr=1e6", "logger=none",
                      "callbacks.activation_maximization=null")  # fmt: skip
    with pytest.warns(UserWarning, match="training is diverging. Lower optimizer.lr"):
        train(cfg)


def test_a_folder_name_the_file_system_refuses_is_told_in_one_line(tmp_path):
    too_long = tmp_path / ("x" * 300)
    command = [sys.executable, str(ROOT / "train.py"), "debug=fast_dev_run",
               f"hydra.run.dir={too_long}"]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"train.py: File name too long: {too_long}"


def test_a_run_log_that_cannot_be_opened_is_told_in_one_line(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "train.log").mkdir(parents=True)  # as unwritable as a read-only folder, for root
    command = [sys.executable, str(ROOT / "train.py"), "debug=fast_dev_run",
               f"hydra.run.dir={run_dir}"]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"train.py: Is a directory: {run_dir / 'train.log'}"
    )


def test_a_command_line_hydra_refuses_is_told_in_one_line(tmp_path):
    command = [sys.executable, str(ROOT / "train.py"), "-m", "--cfg", "job"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "train.py: Only one of --run, --multirun, --cfg, --info and --shell_completion can be "
        "specified"
    ]
