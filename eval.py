"""Evaluate a checkpoint on the test split of a data config.

    python eval.py ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt
    python eval.py ckpt_path=... data=mnist_shifted data.eval_placement=random

Without `data=`, the data config the checkpoint was trained with is used. A network is only
evaluated on data of its dataset and image size; a permuted model gets back its permutation.
"""

import hydra
from omegaconf import DictConfig

from mlp_vs_cnn.checkpoints import CheckpointError
from mlp_vs_cnn.data import DataFilesError
from mlp_vs_cnn.evaluation import evaluate
from mlp_vs_cnn.run_folders import register_resolvers


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    try:
        evaluate(cfg)
    except (CheckpointError, DataFilesError) as err:
        # The message says what is wrong and what to do; a traceback would only hide it.
        raise SystemExit(f"eval.py: {err}") from None


if __name__ == "__main__":
    register_resolvers()
    main()
