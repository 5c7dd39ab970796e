"""Evaluate a checkpoint on the test split of a data config.

    python eval.py ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt
    python eval.py ckpt_path=... data=mnist_shifted data.eval_placement=random

Without `data=`, the data config the checkpoint was trained with is used. A network is only
evaluated on data of its dataset and image size; a permuted model gets back its permutation.
"""

import hydra
from omegaconf import DictConfig

from mlp_vs_cnn.errors import run
from mlp_vs_cnn.evaluation import evaluate
from mlp_vs_cnn.hydra_callbacks import check_job


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    check_job(cfg)  # a sweep's job; a single run was checked before its folder was made
    evaluate(cfg)


if __name__ == "__main__":
    run(main)  # a bad value, a checkpoint that does not fit, missing data: one line
