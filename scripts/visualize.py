"""Write the figures of the visualisation callbacks for an existing checkpoint.

    python scripts/visualize.py ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt
    python scripts/visualize.py ckpt_path=... what=[first_layer_weights,activation_maximization]
    python scripts/visualize.py ckpt_path=... callbacks.activation_maximization.draw.blur_sigma=0.5

Figures go to TensorBoard (`<run>/tensorboard`) and as PNG to `<run>/figures/`, where <run> is
`logs/visualize/runs/<time>`. The callbacks and their settings are `conf/callbacks/visualize.yaml`;
without `data=`, the checkpoint's own data config (and pixel permutation) is used.
"""

import hydra
from omegaconf import DictConfig

from mlp_vs_cnn.errors import run
from mlp_vs_cnn.evaluation import visualize
from mlp_vs_cnn.hydra_callbacks import check_job


@hydra.main(version_base="1.3", config_path="../conf", config_name="visualize")
def main(cfg: DictConfig) -> None:
    check_job(cfg)  # a sweep's job; a single run was checked before its folder was made
    visualize(cfg)


if __name__ == "__main__":
    run(main)  # a bad value, a checkpoint that does not fit, missing data: one line
