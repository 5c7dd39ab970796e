"""Train one network on one dataset variant, or sweep over several.

    python train.py                                        # mlp on mnist (conf/train.yaml)
    python train.py model=lenet5 data=fashion_permuted
    python train.py -m model=mlp,lenet5 data=mnist,mnist_permuted trainer.max_epochs=1
    python train.py model=lenet5 trainer=gpu data.batch_size=512
    tensorboard --logdir logs

Every run writes logs/train/runs/<time>_<model>_<data>/ (checkpoints, TensorBoard events,
metrics.json); sweeps write logs/train/multiruns/<time>/<n>_<model>_<data>_s<seed>[_<overrides>]/,
and at their end summary.csv and summary.md of all their jobs there. A bad value stops a run
before anything is written, with one line naming the key, the value and what is allowed
(HYDRA_FULL_ERROR=1 for a traceback); a job of a sweep that fails leaves its error in its
error.txt and train.log.
"""

import hydra
from omegaconf import DictConfig

from mlp_vs_cnn.errors import run
from mlp_vs_cnn.hydra_callbacks import check_job
from mlp_vs_cnn.training import metric_for_sweeper, train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    check_job(cfg)  # a sweep's job; a single run was checked before its folder was made
    metrics = train(cfg)
    return metric_for_sweeper(metrics, cfg.get("optimized_metric"))


if __name__ == "__main__":
    run(main)  # a bad value, missing data or a diverged run: one line, no traceback
