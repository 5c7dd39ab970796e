"""Peer (b): our network and recipe, fed by the source notebooks' per-sample data pipeline.

    python scripts/peers/per_sample.py --root /tmp/peer_root --target 0.99 -- \
        model=lenet5 data=mnist experiment=time_to_accuracy
    python scripts/peers/per_sample.py --root /tmp/peer_root -- model=mlp trainer.max_epochs=1

The trailing arguments are overrides of conf/train.yaml, composed with Hydra's compose API as
`train.py` composes them; the network (`model`), optimizer, scheduler, epochs
(`trainer.max_epochs`, or `--max-epochs`), batch sizes, data variant, precision (32-true or
bf16-mixed), channels-last and threads (`--threads`, else ours) come from there. What
differs from `train.py` is the data pipeline, the one of the seed notebooks (and of the
per-sample pipeline of scripts/benchmark.py): a torchvision MNIST / FashionMNIST dataset that
turns each image into a PIL image, then (shifted data) RandomCrop with padding onto the canvas,
ToTensor and Normalize, per sample, batched by a DataLoader; and a plain training loop. It trains
on the same 55,000 images as our data module (`ImageDataModule.setup`: the same split seed and
validation size) and tests on the 10,000 test images after every epoch. Permuted data is not
supported. The command line and stdout follow scripts/peers/_protocol.py.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import _protocol
import hydra
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

# Before torch, as train.py does: importing the package sets the OpenMP wait policy and the
# allocator our runs train with (mlp_vs_cnn/runtime.py).
from mlp_vs_cnn.checks import check_config, refused_values
from mlp_vs_cnn.data.datamodule import split_indices
from mlp_vs_cnn.errors import USER_ERRORS, ConfigError, describe
from mlp_vs_cnn.runtime import threads_for

# isort: split
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

ROOT = Path(__file__).resolve().parents[2]
SOURCE_SIZE = 28  # side of the MNIST and Fashion-MNIST images


def compose_recipe(overrides: list[str]) -> DictConfig:
    """Our training config with the overrides, its values checked as `train.py` checks them (the
    network's class checks its own arguments when the loop builds it)."""
    try:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("train", overrides=overrides)
        check_config(cfg)
    except (*USER_ERRORS, HydraException, OmegaConfBaseException) as err:
        _protocol.fail(describe(err))
    if cfg.data.permutation_seed is not None:
        _protocol.fail(
            "permuted data is not supported (the pipeline has no per-sample permutation)"
        )
    if cfg.scheduler and cfg.scheduler.get("monitor"):
        _protocol.fail(f"a scheduler that monitors {cfg.scheduler.monitor} needs a validation set")
    trainer = cfg.trainer
    if trainer.max_epochs is None or trainer.max_epochs < 1:
        _protocol.fail(
            f"trainer.max_epochs={trainer.max_epochs}: the loop needs a number of epochs"
        )
    precision = str(trainer.get("precision", "32-true"))
    if precision not in ("32", "32-true", "bf16-mixed"):
        _protocol.fail(f"trainer.precision={precision}: the loop trains in 32-true or bf16-mixed")
    if trainer.get("gradient_clip_val") or trainer.get("accumulate_grad_batches", 1) != 1:
        _protocol.fail("the loop trains without gradient clipping nor gradient accumulation")
    return cfg


def per_sample_transform(data: DictConfig, placement: str) -> transforms.Compose:
    steps = []
    if data.canvas_size:
        # The seed notebooks' shift: pad by canvas - 28 on every side and crop a canvas-sized
        # window, which puts the whole image at a uniformly random position; CenterCrop pads
        # the image to the canvas, centred as the data module's "center" placement.
        pad = data.canvas_size - SOURCE_SIZE
        random_crop = transforms.RandomCrop(data.canvas_size, padding=pad)
        centre = transforms.CenterCrop(data.canvas_size)
        steps.append(random_crop if placement == "random" else centre)
    steps.append(transforms.ToTensor())
    if data.normalize:
        steps.append(transforms.Normalize((data.mean,), (data.std,)))
    return transforms.Compose(steps)


def accuracy_on(net, loader, memory_format, autocast) -> float:
    net.eval()
    correct = 0
    with torch.inference_mode():
        for x, y in loader:
            with autocast():
                logits = net(x.contiguous(memory_format=memory_format))
            correct += (logits.argmax(dim=1) == y).sum().item()
    net.train()
    return correct / len(loader.dataset)


def main(argv: list[str] | None = None) -> None:
    parser = _protocol.peer_parser(__doc__, max_epochs=None)
    parser.set_defaults(dataset=None)
    parser.add_argument("overrides", nargs="*", help="overrides of conf/train.yaml")
    args = parser.parse_args(argv)
    # Appended, not patched in later, so that what interpolates the epochs (T_max) follows.
    max_epochs = [f"trainer.max_epochs={args.max_epochs}"] if args.max_epochs else []
    cfg = compose_recipe([*args.overrides, *max_epochs])
    data = cfg.data
    if args.dataset and args.dataset != data.dataset:
        _protocol.fail(f"--dataset {args.dataset} but the config's data.dataset is {data.dataset}")
    _protocol.require_data(args.root, data.dataset)
    torch.manual_seed(args.seed)

    dataset_class = getattr(datasets, data.dataset)
    train_transform = per_sample_transform(data, data.train_placement)
    # Shifted test images get new random positions every epoch here (the data module fixes them
    # once, by eval_seed): the same distribution, so the same expected accuracy.
    test_transform = per_sample_transform(data, data.eval_placement)
    train_set = dataset_class(args.root, train=True, download=False, transform=train_transform)
    test_set = dataset_class(args.root, train=False, download=False, transform=test_transform)
    if data.val_size >= len(train_set):
        _protocol.fail(f"data.val_size={data.val_size} leaves none of the {len(train_set)} images")
    _, train_index = split_indices(len(train_set), data.val_size, data.split_seed)
    train_index = train_index[: args.limit_train].tolist()
    test_index = range(len(test_set))[: args.limit_test]
    train_loader = DataLoader(
        Subset(train_set, train_index), batch_size=data.batch_size, shuffle=True, num_workers=0
    )
    test_loader = DataLoader(Subset(test_set, test_index), batch_size=data.eval_batch_size)

    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    try:
        with refused_values("model", cfg.model._target_):
            net = hydra.utils.instantiate(cfg.model).to(memory_format=memory_format)
    except ConfigError as err:
        _protocol.fail(describe(err))
    # Our threads for this network (as mlp_vs_cnn.training.build counts them, before compiling),
    # unless the caller sets them.
    example = torch.zeros(1, cfg.model.get("in_channels", 1), data.image_size, data.image_size)
    torch.set_num_threads(args.threads or cfg.num_threads or threads_for(net, example))
    if cfg.compile:
        net.compile()
    # Lightning's bf16-mixed: the forward pass and the loss under CPU autocast to bfloat16.
    bf16 = str(cfg.trainer.get("precision")) == "bf16-mixed"
    autocast = partial(torch.autocast, "cpu", dtype=torch.bfloat16, enabled=bf16)
    optimizer = hydra.utils.instantiate(cfg.optimizer)(params=net.parameters())
    epochs = cfg.trainer.max_epochs
    scheduler, interval, frequency = None, "epoch", 1
    if cfg.scheduler:
        make_scheduler = cfg.scheduler.scheduler
        # A schedule over the whole run (one-cycle): as many steps as the loop will take.
        whole_run = make_scheduler.get("total_steps", ...) is None
        total = {"total_steps": epochs * len(train_loader)} if whole_run else {}
        scheduler = hydra.utils.instantiate(make_scheduler)(optimizer=optimizer, **total)
        interval, frequency = cfg.scheduler.interval, cfg.scheduler.get("frequency", 1)

    net.train()
    steps = 0
    for epoch in range(1, epochs + 1):
        for x, y in train_loader:
            with autocast():
                loss = F.cross_entropy(net(x.contiguous(memory_format=memory_format)), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            if scheduler and interval == "step" and steps % frequency == 0:
                scheduler.step()
        if scheduler and interval == "epoch" and epoch % frequency == 0:
            scheduler.step()
        test_acc = accuracy_on(net, test_loader, memory_format, autocast)
        _protocol.report_epoch(epoch, test_acc)
        if _protocol.target_reached(test_acc, args.target):
            break


if __name__ == "__main__":
    main()
