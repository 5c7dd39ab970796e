"""The experiment recipes of conf/experiment/: they compose, sweep what they say, and run."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlp_vs_cnn.data.datamodule import scoped_permutation
from mlp_vs_cnn.record import run_config, run_settings
from tests.conftest import DATA_CONFIGS, MODEL_CONFIGS, ROOT

RECIPES = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))
# A recipe that adds seeds to some cells of another: its runs join that recipe's records.
EXTENDS = {"converged_seeds": "converged"}


def test_the_recipes_of_the_issue_exist():
    assert {"permutation", "mlp_baseline", "shift", "translation", "grid"} <= set(RECIPES)


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_composes_and_sweeps_three_seeds_over_existing_options(compose_cfg, recipe):
    cfg = compose_cfg(f"experiment={recipe}")
    task = EXTENDS.get(recipe, recipe)
    assert cfg.task_name == task
    assert task in cfg.hydra.sweep.dir
    params = cfg.hydra.sweeper.params
    assert str(params.seed).split(",") == (["4", "5"] if recipe in EXTENDS else ["1", "2", "3"])
    for model in str(params.get("model", cfg.hydra.runtime.choices.model)).split(","):
        assert model in MODEL_CONFIGS
    for data in str(params.get("data", cfg.hydra.runtime.choices.data)).split(","):
        assert data in DATA_CONFIGS
    assert run_config(cfg)["model"]["image_size"] == cfg.data.image_size  # everything resolves


@pytest.mark.parametrize("recipe", sorted(EXTENDS))
def test_a_recipe_that_adds_seeds_trains_its_cells_at_the_settings_it_extends(compose_cfg, recipe):
    """Seed 4 of `converged_seeds` is seed 4 of `converged`: the same settings, so its record
    is counted in the converged cell."""
    cfg = compose_cfg(f"experiment={recipe}")
    models = str(cfg.hydra.sweeper.params.model).split(",")
    datas = str(cfg.hydra.sweeper.params.data).split(",")
    for model, data in ((models[0], datas[-1]), (models[-1], datas[0])):
        cell = [f"model={model}", f"data={data}", "seed=4"]
        extended = compose_cfg(f"experiment={EXTENDS[recipe]}", *cell)
        assert run_settings(compose_cfg(f"experiment={recipe}", *cell)) == run_settings(extended)


def test_permutation_recipe_pins_the_practicum_setting(compose_cfg):
    cfg = compose_cfg("experiment=permutation")
    assert cfg.optimizer._target_ == "torch.optim.SGD"
    assert (cfg.optimizer.lr, cfg.optimizer.momentum) == (0.01, 0.5)
    assert (cfg.data.batch_size, cfg.trainer.max_epochs) == (64, 1)


def test_translation_recipe_trains_centred_and_tests_shifted(compose_cfg):
    cfg = compose_cfg("experiment=translation")
    assert cfg.data.canvas_size == 56
    assert (cfg.data.train_placement, cfg.data.eval_placement) == ("center", "random")
    assert "shift_robustness" in cfg.callbacks
    models = set(cfg.hydra.sweeper.params.model.split(","))
    assert {"cnn_gap", "lenet5", "lenet5_aa", "mlp"} <= models


def test_debug_quick_wins_over_the_recipe(compose_cfg):
    cfg = compose_cfg("experiment=mlp_baseline", "debug=quick")
    assert cfg.trainer.max_epochs == 1 and cfg.data.limit_train_samples == 512


def _multirun(tmp_path: Path, data_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LOG_DIR": str(tmp_path / "logs"),
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
        ),
    }
    command = [
        sys.executable,
        "train.py",
        "-m",
        *overrides,
        "debug=quick",
        f"paths.data_dir={data_dir}",
        "data.val_size=100",
        "logger=none",
        "callbacks.rich_progress_bar=null",
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _finished_runs(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("metrics.json"))]


@pytest.mark.slow
def test_a_recipe_multirun_sweeps_its_own_params_into_its_own_folder(tmp_path, fixture_data_dir):
    _multirun(
        tmp_path, fixture_data_dir, "experiment=permutation", "seed=1,2", "data=mnist_permuted"
    )
    runs = _finished_runs(tmp_path / "logs" / "permutation" / "multiruns")
    jobs = {(r["choices"]["model"], r["choices"]["data"], r["seed"]) for r in runs}
    # The recipe sweeps both models; the command line narrows its data and seeds.
    assert jobs == {(m, "mnist_permuted", s) for m in ("fc_small", "cnn_small") for s in (1, 2)}
    assert all(r["config"]["optimizer"]["momentum"] == 0.5 for r in runs)


def test_locality_recipe_sweeps_both_block_families_on_both_datasets_at_every_block_size(
    compose_cfg,
):
    params = compose_cfg("experiment=locality").hydra.sweeper.params
    assert set(params.model.split(",")) == {"fc_small", "cnn_small", "mlp", "lenet5"}
    assert set(params.data.split(",")) == {
        f"{dataset}_block_{family}"
        for dataset in ("mnist", "fashion")
        for family in ("local", "shuffle")
    }
    assert params["data.block_size"] == "1,2,4,7,14,28"


@pytest.mark.slow
def test_locality_recipe_multirun_crosses_block_configs_with_block_sizes(
    tmp_path, fixture_data_dir
):
    data = "data=mnist_block_local,fashion_block_shuffle"
    _multirun(
        tmp_path, fixture_data_dir, "experiment=locality", "model=fc_small", "seed=1", data,
        "data.block_size=1,28",
    )  # fmt: skip
    multiruns = tmp_path / "logs" / "locality" / "multiruns"
    runs = _finished_runs(multiruns)
    jobs = {(r["choices"]["data"], r["config"]["data"]["block_size"]) for r in runs}
    assert jobs == {(d, k) for d in ("mnist_block_local", "fashion_block_shuffle") for k in (1, 28)}
    folders = sorted(p.parent.name for p in multiruns.rglob("metrics.json"))
    expected = [(0, "mnist_block_local", 1), (1, "mnist_block_local", 28),
                (2, "fashion_block_shuffle", 1), (3, "fashion_block_shuffle", 28)]  # fmt: skip
    for folder, (n, data, k) in zip(folders, expected, strict=True):
        assert folder.startswith(f"{n}_fc_small_{data}_s1_block_size={k}_"), folder


@pytest.mark.slow
def test_glob_over_recipes_runs_each_recipe_with_its_own_sweep(tmp_path, fixture_data_dir):
    # glob over two recipes; seed=1 and one model keep it small, the recipes' other params stay.
    # (Hydra's glob takes a list to include: glob(a,b) would mean "include a, exclude b".)
    _multirun(
        tmp_path, fixture_data_dir, "experiment=glob([perm*,mlp_*])", "seed=1", "model=fc_small"
    )
    logs = tmp_path / "logs"
    permutation = _finished_runs(logs / "permutation" / "multiruns")
    baseline = _finished_runs(logs / "mlp_baseline" / "multiruns")
    assert sorted(r["choices"]["data"] for r in permutation) == sorted(
        ["mnist", "mnist_permuted", "fashion", "fashion_permuted"]
    )
    assert [(r["choices"]["data"], r["seed"]) for r in baseline] == [("mnist", 1)]
    assert baseline[0]["config"]["optimizer"]["lr"] == 0.05


@pytest.mark.slow
def test_recipes_sent_into_one_sweep_folder_never_share_a_job_folder(tmp_path, fixture_data_dir):
    # Both recipes have one job here (fc_small on mnist, seed 1): each numbered 0 on its own.
    one = tmp_path / "one_sweep"
    _multirun(tmp_path, fixture_data_dir, "experiment=glob([perm*,mlp_*])", "seed=1",
              "model=fc_small", "data=mnist", f"hydra.sweep.dir={one}")  # fmt: skip
    jobs = sorted(p for p in one.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(jobs) == 2
    records = [json.loads((job / "metrics.json").read_text()) for job in jobs]
    assert sorted(r["choices"]["experiment"] for r in records) == ["mlp_baseline", "permutation"]


@pytest.mark.slow
def test_a_study_sweep_skips_the_runs_it_has_records_of_and_reruns_the_others(
    tmp_path, fixture_data_dir
):
    results = tmp_path / "results"
    study = ("experiment=glob([permutation])", "seed=1", "model=fc_small",
             "data=mnist,mnist_permuted", f"results_dir={results}",
             f"hydra.sweeper.skip_recorded={results}")  # fmt: skip
    # As `make reproduce` runs it: jobs in joblib's worker processes, each recipe in its own folder,
    # all of a recipe's jobs at once, joblib logging each one done.
    first = _multirun(tmp_path, fixture_data_dir, *study, "hydra/launcher=parallel",
                      "hydra.launcher.verbose=11")  # fmt: skip
    said = first.stderr + first.stdout
    # The first job's line: joblib prints it only above verbose=10, and only when both jobs were
    # launched together (a batch of one job would end with "Done 1 out of 1").
    assert re.search(r"Done +1 tasks +\|", said)
    assert re.search(r"Done +2 out of +2 \|", said)
    # The summary at the end of the sweep still has a row for every job.
    (summary,) = (tmp_path / "logs" / "train" / "multiruns").glob("*/summary.csv")
    rows = list(csv.DictReader(summary.open()))
    assert sorted((r["data"], r["error"]) for r in rows) == [("mnist", ""), ("mnist_permuted", "")]
    assert all(0.0 <= float(r["test/acc"]) <= 1.0 for r in rows)
    records = sorted(results.rglob("*.json"))
    assert [p.name.split("-")[0] for p in records] == [
        "fc_small_mnist_permuted_s1",
        "fc_small_mnist_s1",
    ]
    assert all(json.loads(p.read_text())["key"] in p.name for p in records)

    again = _multirun(tmp_path, fixture_data_dir, *study)
    assert "Recipe permutation: 2 runs, 2 recorded, 0 repeat another run, 0 to run" in (
        again.stderr + again.stdout
    )
    # A run stopped before it finished has no record: the same command runs it, and only it.
    records[0].unlink()
    resumed = _multirun(tmp_path, fixture_data_dir, *study)
    assert "Recipe permutation: 2 runs, 1 recorded, 0 repeat another run, 1 to run" in (
        resumed.stderr + resumed.stdout
    )
    assert sorted(p.name for p in results.rglob("*.json")) == [p.name for p in records]


@pytest.mark.parametrize(
    ("launcher", "present", "absent"),
    [
        ("parallel", ["hydra.launcher.n_jobs=2", "hydra.launcher.verbose=11"], ["max_batch_size"]),
        ("basic", ["hydra.sweeper.max_batch_size=1"], ["hydra.launcher."]),
        ("slurm", [], ["max_batch_size", "hydra.launcher."]),
    ],
)
def test_make_reproduce_gives_each_launcher_its_whole_recipe_or_one_job_at_a_time(
    launcher, present, absent
):
    """The parallel launcher and a cluster get all of a recipe's jobs at once (a worker that
    ends a short run starts the next); one run at a time (basic) logs the runs left after each."""
    dry = subprocess.run(["make", "-n", "reproduce", f"LAUNCHER={launcher}"], cwd=ROOT,
                         capture_output=True, text=True, check=True)  # fmt: skip
    (command,) = [c for c in dry.stdout.replace("\\\n", " ").splitlines() if "train.py -m" in c]
    assert f"hydra/launcher={launcher}" in command
    assert all(arg in command for arg in present)
    assert not any(arg in command for arg in absent)


@pytest.mark.slow
def test_a_configuration_already_recorded_or_queued_is_not_trained_again(
    tmp_path, fixture_data_dir
):
    """The ends of the locality recipe's block families are the original images and a whole-
    image permutation: the permutation recipe's run of `mnist` is reused, and of the four
    endpoint jobs only one (the whole-image permutation) is trained."""
    results = tmp_path / "results"
    record = ("seed=1", "model=fc_small", f"results_dir={results}",
              f"hydra.sweeper.skip_recorded={results}")  # fmt: skip
    _multirun(tmp_path, fixture_data_dir, "experiment=glob([permutation])", "data=mnist", *record)
    ends = _multirun(
        tmp_path, fixture_data_dir, "experiment=glob([locality])", *record,
        "data=mnist_block_local,mnist_block_shuffle", "data.block_size=1,28",
    )  # fmt: skip
    said = ends.stderr + ends.stdout
    # local k=1 and shuffle k=28 are the recorded run; shuffle k=1 repeats local k=28
    assert "Recipe locality: 4 runs, 2 recorded, 1 repeat another run, 1 to run" in said
    names = sorted(p.name.split("-")[0] for p in results.rglob("*.json"))
    assert names == ["fc_small_mnist_block_local_k28_s1", "fc_small_mnist_s1"]


def test_equivalent_block_permutations_have_the_settings_of_the_simplest(compose_cfg):
    def settings(*overrides):
        cfg = compose_cfg("experiment=locality", "model=fc_small", "seed=1", *overrides)
        data = cfg.data
        scope, k = data.permutation_scope, data.block_size
        permutation = scoped_permutation(scope, 28, data.permutation_seed, k)
        return run_settings(cfg), permutation

    original, moved = settings("data=mnist_block_local", "data.block_size=1")
    assert (moved == torch.arange(784)).all()  # k=1 inside blocks moves nothing
    assert settings("data=mnist_block_shuffle", "data.block_size=28")[0] == original
    assert "permutation_seed" not in original["data"]  # the plain images' settings
    whole, permutation = settings("data=mnist_block_local", "data.block_size=28")
    same, other = settings("data=mnist_block_shuffle", "data.block_size=1")
    image, drawn = settings("data=mnist_permuted", "data.permutation_seed=3")
    assert whole == same == image and (permutation == other).all() and (other == drawn).all()
    assert settings("data=mnist_block_local", "data.block_size=4")[0] != whole


def test_converged_recipe_trains_every_model_on_the_full_data_with_one_stopping_rule(compose_cfg):
    cfg = compose_cfg("experiment=converged")
    params = cfg.hydra.sweeper.params
    assert set(params.model.split(",")) == set(MODEL_CONFIGS)
    assert set(params.data.split(",")) == {
        f"{d}{v}" for d in ("mnist", "fashion") for v in ("", "_shifted", "_permuted")
    }
    assert cfg.data.limit_train_samples is None and cfg.data.limit_eval_samples is None
    stopping = cfg.callbacks.early_stopping
    assert (stopping.monitor, stopping.mode, stopping.patience) == ("val/acc", "max", 3)
    # the rate is cut (after 2 epochs without a new best) before the run stops (after 3)
    assert cfg.scheduler.scheduler.patience + 1 < stopping.patience
    assert "early_stopping" in run_settings(cfg)  # the stopping rule is part of a run's identity


def test_converged_recipe_stops_a_run_that_has_levelled_off_and_records_its_curve(compose_cfg):
    from mlp_vs_cnn.training import train

    # lr=0: validation accuracy never improves after the first epoch, so the rule stops the run
    # after 1 + patience epochs, long before the cap.
    cfg = compose_cfg(
        "experiment=converged", "model=fc_small", "data=mnist", "optimizer.lr=0",
        "logger=none", "callbacks.rich_progress_bar=null", "callbacks.rich_model_summary=null",
    )  # fmt: skip
    assert cfg.trainer.max_epochs == 30
    train(cfg)
    record = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert record["epochs"] == 1 + cfg.callbacks.early_stopping.patience
    curve = record["history"]["val/acc"]
    assert len(curve) == record["epochs"] and len(set(curve)) == 1
    assert len(record["history"]["val/loss"]) == record["epochs"]
