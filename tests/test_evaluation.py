"""eval.py: a checkpoint reproduces its test accuracy, keeps its permutation, refuses other data."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

from mlp_vs_cnn.checkpoints import CheckpointError
from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.data.transforms import make_permutation, shuffle_blocks
from mlp_vs_cnn.evaluation import evaluate, visualize
from mlp_vs_cnn.training import train
from tests.conftest import CONFIG_DIR, ROOT, compose_config
from tests.test_callbacks import QUICK_FIGURES, image_tags, png_tags


@pytest.fixture(scope="module")
def trained(tmp_path_factory, fixture_data_dir):
    """Train `model` on `data` once per module (a quick run); return the run's metrics.json."""
    runs = {}

    def _trained(model: str, data: str) -> dict:
        if (model, data) not in runs:
            work_dir = tmp_path_factory.mktemp(f"{model}_{data}")
            cfg = compose_config(
                f"model={model}",
                f"data={data}",
                "debug=quick",
                "logger=none",
                "callbacks.rich_progress_bar=null",
                "callbacks.rich_model_summary=null",
                data_dir=fixture_data_dir,
                work_dir=work_dir,
            )
            train(cfg)
            runs[model, data] = json.loads(
                (Path(cfg.paths.output_dir) / "metrics.json").read_text()
            )
            GlobalHydra.instance().clear()
        return runs[model, data]

    return _trained


@pytest.mark.parametrize(
    ("model", "data"),
    [("mlp", "mnist"), ("fc_small", "mnist_permuted"), ("cnn_small", "fashion_shifted")],
)
def test_eval_of_a_fresh_checkpoint_reproduces_the_test_accuracy_of_training(
    compose_cfg, trained, model, data
):
    record = trained(model, data)
    cfg = compose_cfg(f"ckpt_path={record['best_checkpoint']}", config_name="eval")
    metrics = evaluate(cfg)
    assert metrics["test/acc"] == record["metrics"]["test/acc"]
    assert metrics["test/loss"] == pytest.approx(record["metrics"]["test/loss"], rel=1e-6)
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["metrics"] == metrics


def test_eval_with_the_training_data_config_named_reproduces_the_test_accuracy(
    compose_cfg, trained
):
    record = trained("mlp", "mnist")
    cfg = compose_cfg(
        f"ckpt_path={record['best_checkpoint']}",
        "data=mnist",
        "data.limit_eval_samples=256",
        config_name="eval",
    )
    assert evaluate(cfg)["test/acc"] == record["metrics"]["test/acc"]


@pytest.mark.parametrize(
    ("data", "permutation"),
    [
        ("mnist_permuted", make_permutation(784, seed=0)),
        ("mnist_block_shuffle", shuffle_blocks(28, 7, seed=3)),  # the config's block_size, seed
    ],
)
def test_a_permuted_checkpoint_restores_its_permutation(
    compose_cfg, trained, monkeypatch, data, permutation
):
    record = trained("fc_small", data)
    checkpoint = torch.load(record["best_checkpoint"], weights_only=True)
    saved = checkpoint["ImageDataModule"]["permutation"]
    assert torch.equal(saved, permutation)
    # Asked for another permutation seed, evaluation still uses the one trained with.
    cfg = compose_cfg(
        f"ckpt_path={record['best_checkpoint']}",
        f"data={data}",
        "data.permutation_seed=123",
        "data.limit_eval_samples=256",
        config_name="eval",
    )
    used = []
    original = ImageDataModule.on_after_batch_transfer

    def spy(self, batch, dataloader_idx=0):
        used.append(self.permutation)
        return original(self, batch, dataloader_idx)

    monkeypatch.setattr(ImageDataModule, "on_after_batch_transfer", spy)
    metrics = evaluate(cfg)
    assert used and all(torch.equal(p, saved) for p in used)
    assert metrics["test/acc"] == record["metrics"]["test/acc"]
    # The record says what the network was tested on: its own permutation, not the one asked.
    tested = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["data"]
    assert tested["permutation_seed"] == record["config"]["data"]["permutation_seed"] != 123


def test_eval_on_another_dataset_is_refused(compose_cfg, trained):
    record = trained("mlp", "mnist")
    cfg = compose_cfg(f"ckpt_path={record['best_checkpoint']}", "data=fashion", config_name="eval")
    with pytest.raises(CheckpointError, match="trained on MNIST, not FashionMNIST"):
        evaluate(cfg)


def test_eval_on_another_image_size_is_refused(compose_cfg, trained):
    record = trained("mlp", "mnist")
    cfg = compose_cfg(
        f"ckpt_path={record['best_checkpoint']}", "data=mnist_shifted", config_name="eval"
    )
    with pytest.raises(CheckpointError, match="28x28 images but this data config gives 56x56"):
        evaluate(cfg)


def test_a_missing_checkpoint_is_refused(compose_cfg, tmp_path):
    cfg = compose_cfg(f"ckpt_path={tmp_path / 'nothing.ckpt'}", config_name="eval")
    with pytest.raises(CheckpointError, match="No checkpoint at"):
        evaluate(cfg)


def test_a_corrupt_checkpoint_is_refused(compose_cfg, trained, tmp_path):
    record = trained("mlp", "mnist")
    path = tmp_path / "cut.ckpt"
    path.write_bytes(Path(record["best_checkpoint"]).read_bytes()[:1000])
    cfg = compose_cfg(f"ckpt_path={path}", config_name="eval")
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        evaluate(cfg)


def test_a_checkpoint_of_another_project_is_refused(compose_cfg, tmp_path):
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"net": {"_target_": "os.system"}}}, path)
    cfg = compose_cfg(f"ckpt_path={path}", config_name="eval")
    with pytest.raises(CheckpointError, match="not a checkpoint of this project"):
        evaluate(cfg)


def test_a_checkpoint_with_pickled_objects_is_refused(compose_cfg, tmp_path):
    path = tmp_path / "pickled.ckpt"
    torch.save({"hyper_parameters": {"net": {"_target_": Path("x")}}}, path)
    cfg = compose_cfg(f"ckpt_path={path}", config_name="eval")
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        evaluate(cfg)


@pytest.mark.slow
def test_eval_from_the_command_line_reports_a_mismatch_as_a_message_not_a_traceback(
    trained, fixture_data_dir, tmp_path
):
    record = trained("mlp", "mnist")
    command = [
        sys.executable, "eval.py", f"ckpt_path={record['best_checkpoint']}", "data=fashion",
        f"paths.data_dir={fixture_data_dir}", f"paths.log_dir={tmp_path}",
        "trainer.accelerator=cpu",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "trained on MNIST, not FashionMNIST" in result.stderr
    assert "Traceback" not in result.stderr


def _damaged(checkpoint: dict, how: str) -> dict:
    checkpoint = copy.deepcopy(checkpoint)
    if how == "class_this_code_lacks":
        checkpoint["hyper_parameters"]["net"]["_target_"] = "mlp_vs_cnn.models.Nope"
    elif how == "weights_of_other_shapes":
        name = next(iter(checkpoint["state_dict"]))
        checkpoint["state_dict"][name] = torch.zeros(3, 3)
    else:  # no weights at all
        del checkpoint["state_dict"]
    return checkpoint


@pytest.mark.parametrize(
    ("how", "told"),
    [
        ("class_this_code_lacks", "cannot be rebuilt by this code (Error locating target"),
        ("weights_of_other_shapes", "cannot be rebuilt by this code (Error(s) in loading"),
        ("no_weights", "holds no weights (no state_dict)"),
    ],
)
def test_a_checkpoint_this_code_cannot_rebuild_is_refused_in_one_line(
    compose_cfg, trained, tmp_path, how, told
):
    source = trained("mlp", "mnist")["best_checkpoint"]
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    path = tmp_path / f"{how}.ckpt"
    torch.save(_damaged(checkpoint, how), path)
    cfg = compose_cfg(f"ckpt_path={path}", config_name="eval")
    with pytest.raises(CheckpointError, match=re.escape(told)):
        evaluate(cfg)


# Without data=, the checkpoint's own data config; with it, that one (the visualize config has no
# seed for the data's shuffle seed, which drawing does not use).
@pytest.mark.parametrize(
    "data", [[], ["data=mnist_permuted", "data.val_size=100"]], ids=["its_data", "data_given"]
)
def test_visualize_writes_the_figures_of_a_checkpoint(compose_cfg, data):
    cfg = compose_cfg(
        "model=mlp", "data=mnist_permuted", *QUICK_FIGURES, "callbacks.activation_maximization=null"
    )
    train(cfg)
    checkpoint = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    out = Path(cfg.paths.output_dir).parent / "visualize"
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        overrides = [
            f"ckpt_path={checkpoint}",
            f"paths.data_dir={cfg.paths.data_dir}",
            f"hydra.runtime.output_dir={out}",
            "what=[sample_grids,first_layer_weights]",
            *data,
        ]
        visualize_cfg = compose("visualize", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(visualize_cfg)
    visualize(visualize_cfg)
    expected = {
        "samples/model_input",
        "samples/unpermuted",
        "samples/flattened",
        "weights/first_layer",
        "weights/first_layer_unpermuted",
    }
    assert png_tags(out) == expected
    assert image_tags(out) == {f"visuals/{tag}" for tag in expected}
