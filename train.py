"""Train one network on one dataset variant, or sweep over several.

    python train.py                                        # mlp on mnist (conf/train.yaml)
    python train.py model=lenet5 data=fashion_permuted
    python train.py -m model=mlp,lenet5 data=mnist,mnist_permuted trainer.max_epochs=1
    python train.py model=lenet5 trainer=gpu data.batch_size=512
    tensorboard --logdir logs

Every run writes logs/train/runs/<time>_<model>_<data>/ (checkpoints, TensorBoard events,
metrics.json); sweeps write logs/train/multiruns/<time>/<n>_<model>_<data>[_<overrides>]_s<seed>/.
"""

import hydra
from omegaconf import DictConfig

from mlp_vs_cnn.run_folders import register_resolvers
from mlp_vs_cnn.training import metric_for_sweeper, train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    return metric_for_sweeper(metrics, cfg.get("optimized_metric"))


if __name__ == "__main__":
    register_resolvers()
    main()
