"""Throughput of our training pipeline against a bare PyTorch loop and a per-sample DataLoader.

    python scripts/benchmark.py                        # the table of docs/performance.md (minutes)
    python scripts/benchmark.py --json bench.json          # also write the results as JSON
    python scripts/benchmark.py --models mlp --data mnist --batches 20 --rounds 1 --no-train-run

For each model x data config, three pipelines train on the same model, optimizer and batch size,
interleaved round by round in this one process, so that a busy machine slows them all alike:
  ours       the data module, ImageClassifier and Trainer (callbacks, logger) exactly as
             `train.py` builds them from the composed config (`mlp_vs_cnn.training.build`);
  bare       a plain loop over in-memory float tensors already transformed (normalised,
             placed on the canvas, permuted): the ceiling for this model on this machine;
  per-sample the seed notebooks' way: a torchvision-style dataset that turns each image into a
             PIL image, then (shifted) RandomCrop with padding onto the canvas, ToTensor, (permuted)
             the pixel permutation and Normalize per sample, and a DataLoader.
Throughput is images per second over `--batches` optimizer steps (one per batch) after
`--warmup` steps; ratios are the median over rounds of ours / bare, ours / per-sample and
bare / per-sample within each round. Evaluation throughput is measured the same way on the test
split (ours: `trainer.test`). The bare loop builds the network as `ImageClassifier` does (the same
memory format), so it is the ceiling for exactly the computation ours runs.

`--alternative KEY=VALUE ...` adds a fourth pipeline, ours with those overrides, timed in the
same rounds: e.g. `--alternative channels_last=true` or `compile=true` against the defaults
(alternative / ours is reported).

Unless `--no-train-run`, it also runs a whole default `python train.py` in a subprocess (wall
time and peak resident memory) and `python train.py debug=fast_dev_run` as its start-up time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, open_dict
from omegaconf.errors import OmegaConfBaseException
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mlp_vs_cnn.data.transforms import random_offsets  # noqa: E402
from mlp_vs_cnn.errors import USER_ERRORS, describe  # noqa: E402
from mlp_vs_cnn.models import ImageClassifier  # noqa: E402
from mlp_vs_cnn.training import build  # noqa: E402

PIPELINES = ("ours", "bare", "per_sample")


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """conf/train.yaml composed as `train.py` would with these overrides."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[*overrides, f"hydra.runtime.output_dir={output_dir}"],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    output_dir.mkdir(parents=True, exist_ok=True)
    return cfg


def device_of(cfg: DictConfig) -> torch.device:
    """The device the Trainer picks for this config (one device; GPU if asked for or auto)."""
    if cfg.trainer.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class BatchTimer(Callback):
    """Time from the start of batch `warmup` to the end of the last batch of one stage."""

    def __init__(self, stage: str, warmup: int) -> None:
        self.stage, self.warmup = stage, warmup
        self.started = self.ended = None
        self.images = 0

    def _start(self, trainer, batch, batch_idx: int) -> None:
        if batch_idx == self.warmup:
            synchronize(trainer.strategy.root_device)
            self.started = time.perf_counter()
        if batch_idx >= self.warmup:
            self.images += len(batch[0])

    def _end(self, trainer, batch_idx: int) -> None:
        if batch_idx >= self.warmup:
            synchronize(trainer.strategy.root_device)
            self.ended = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.stage == "train":
            self._start(trainer, batch, batch_idx)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.stage == "train":
            self._end(trainer, batch_idx)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if self.stage == "test":
            self._start(trainer, batch, batch_idx)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if self.stage == "test":
            self._end(trainer, batch_idx)

    def throughput(self) -> float:
        if self.started is None or self.ended is None:
            raise RuntimeError(f"fewer than {self.warmup + 1} {self.stage} batches were run")
        return self.images / (self.ended - self.started)


# --- 1. ours -------------------------------------------------------------------------------------


def ours_train(cfg: DictConfig, warmup: int, batches: int) -> float:
    datamodule, model, trainer, _ = build(cfg)
    timer = BatchTimer("train", warmup)
    trainer.callbacks.append(timer)
    trainer.fit(model, datamodule=datamodule)
    return timer.throughput()


def ours_eval(cfg: DictConfig, warmup: int) -> float:
    datamodule, model, trainer, _ = build(cfg)
    timer = BatchTimer("test", warmup)
    trainer.callbacks.append(timer)
    trainer.test(model, datamodule=datamodule, verbose=False)
    return timer.throughput()


# --- 2. bare loop ------------------------------------------------------------------------------


def transformed(datamodule, split: str, n: int, device: torch.device, seed: int = 0):
    """The first n images of a split (in a random order for training), as the model sees them."""
    images, labels, *offsets = datamodule.splits[split]
    index = torch.arange(len(images))
    if split == "train":
        index = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
        canvas = datamodule.hparams.canvas_size
        if canvas:
            offsets = [random_offsets(len(images), images.shape[-1], canvas)]
    index = index[:n]
    x = datamodule.transform(images[index], *(o[index] for o in offsets))
    return x.to(device), labels[index].to(device)


def bare_network(cfg: DictConfig, device: torch.device) -> torch.nn.Module:
    """The network of `cfg` without Lightning: built, placed and compiled as ours builds it."""
    model = ImageClassifier(net=cfg.model, channels_last=bool(cfg.get("channels_last")))
    if cfg.get("compile"):
        model.net.compile()
    return model.to(device)


def bare_train(cfg: DictConfig, x, y, warmup: int, batches: int) -> float:
    device = x.device
    net = bare_network(cfg, device).train()
    optimizer = instantiate(cfg.optimizer)(params=net.parameters())
    bs = cfg.data.batch_size
    order = torch.randperm(len(x), device=device)  # a training loop shuffles, as our loader does
    for step in range(warmup + batches):
        if step == warmup:
            synchronize(device)
            started = time.perf_counter()
        index = order[step * bs : (step + 1) * bs]
        # index_select, as our loader: x[index] took 20x longer for a batch of MNIST on this CPU.
        xb, yb = x.index_select(0, index), y.index_select(0, index)
        loss = F.cross_entropy(net(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    synchronize(device)
    return batches * bs / (time.perf_counter() - started)


@torch.inference_mode()
def evaluate_loop(net, batches, warmup: int, device: torch.device) -> float:
    """Loss and accuracy over `batches` (an iterable of (x, y)); images per second after warm-up."""
    net.eval()
    images, correct, loss = 0, 0, 0.0
    started = None
    for i, (xb, yb) in enumerate(batches):
        if i == warmup:
            synchronize(device)
            started = time.perf_counter()
        xb, yb = xb.to(device), yb.to(device)
        logits = net(xb)
        loss += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
        if i >= warmup:
            images += len(yb)
    synchronize(device)
    if started is None:
        raise RuntimeError(f"fewer than {warmup + 1} evaluation batches")
    return images / (time.perf_counter() - started)


def bare_eval(cfg: DictConfig, x, y, warmup: int) -> float:
    net = bare_network(cfg, x.device)
    bs = cfg.data.eval_batch_size
    batches = ((x[i : i + bs], y[i : i + bs]) for i in range(0, len(x), bs))
    return evaluate_loop(net, batches, warmup, x.device)


# --- 3. per-sample torchvision pipeline --------------------------------------------------------


class PerSampleDataset(Dataset):
    """What torchvision.datasets.MNIST does per item, over in-memory uint8 tensors."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.images[index].numpy(), mode="L")
        return self.transform(image), int(self.labels[index])


class PermutePixels:
    def __init__(self, permutation: torch.Tensor) -> None:
        self.permutation = permutation

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return image.flatten(-2)[..., self.permutation].view(image.shape)


def per_sample_loader(datamodule, split: str, batch_size: int, workers: int) -> DataLoader:
    hp = datamodule.hparams
    images, labels, *_ = datamodule.splits[split]
    steps = [transforms.ToTensor()]
    if hp.canvas_size:
        # Seed 003's shift, on the PIL image: pad by canvas - 28 on every side and crop a random
        # canvas-sized window, which puts the whole image at a uniformly random position.
        pad = hp.canvas_size - images.shape[-1]
        steps.insert(0, transforms.RandomCrop(hp.canvas_size, padding=pad))
    if datamodule.permutation is not None:
        steps.append(PermutePixels(datamodule.permutation))
    if hp.normalize:
        steps.append(transforms.Normalize((hp.mean,), (hp.std,)))
    dataset = PerSampleDataset(images, labels, transforms.Compose(steps))
    return DataLoader(dataset, batch_size=batch_size, shuffle=split == "train", num_workers=workers)


def per_sample_train(cfg, datamodule, warmup: int, batches: int, workers: int, device) -> float:
    net = instantiate(cfg.model).to(device).train()
    optimizer = instantiate(cfg.optimizer)(params=net.parameters())
    loader = per_sample_loader(datamodule, "train", cfg.data.batch_size, workers)
    images, started = 0, None
    for step, (xb, yb) in enumerate(loader):
        if step == warmup:
            synchronize(device)
            started = time.perf_counter()
        if step == warmup + batches:
            break
        xb, yb = xb.to(device), yb.to(device)
        loss = F.cross_entropy(net(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            images += len(yb)
    synchronize(device)
    return images / (time.perf_counter() - started)


def per_sample_eval(cfg, datamodule, warmup: int, workers: int, device) -> float:
    net = instantiate(cfg.model).to(device)
    loader = per_sample_loader(datamodule, "test", cfg.data.eval_batch_size, workers)
    return evaluate_loop(net, loader, warmup, device)


# --- whole runs of train.py ------------------------------------------------------------------


def run_train_py(args: list[str]) -> dict[str, float]:
    """Wall time and peak resident memory of `python train.py <args>`.

    The peak is `ru_maxrss` of the children, which is the largest child so far: call this
    before starting any other subprocess (DataLoader workers included) for it to be this run's.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"train.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak_kib / 1024, 1)}


# --- the benchmark -------------------------------------------------------------------------------


FULLY_CONNECTED_BATCHES, CONV_BATCHES = 200, 40  # default --batches: < 1 epoch; ~0.5 s, ~40 s


def benchmark_config(model: str, data: str, args, out: Path) -> dict:
    overrides = [f"model={model}", f"data={data}", f"paths.log_dir={out / 'logs'}", *args.override]
    cfg = compose_config(overrides, out / f"{model}_{data}")
    steps = args.batches or (
        FULLY_CONNECTED_BATCHES if cfg.model._target_.endswith(".MLP") else CONV_BATCHES
    )
    warmup = args.warmup
    configs = {"ours": cfg}
    if args.alternative:
        configs["alt"] = compose_config(
            [*overrides, *args.alternative], out / f"{model}_{data}_alt"
        )
    for c in configs.values():
        with open_dict(c.trainer):
            c.trainer.max_epochs = 1
            c.trainer.limit_train_batches = warmup + steps
    device = device_of(cfg)
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.setup()
    n_train = (warmup + steps) * cfg.data.batch_size
    if len(datamodule.splits["train"][0]) < n_train:
        raise ValueError(f"{warmup} + {steps} steps are more than one epoch: lower --batches")
    x_train, y_train = transformed(datamodule, "train", n_train, device)
    x_test, y_test = transformed(datamodule, "test", len(datamodule.splits["test"][0]), device)

    pipelines = (*PIPELINES, "alt") if args.alternative else PIPELINES
    runs = {f"{stage}_{p}": [] for stage in ("train", "eval") for p in pipelines}
    for _ in range(args.rounds):
        runs["train_ours"].append(ours_train(cfg, warmup, steps))
        if args.alternative:
            runs["train_alt"].append(ours_train(configs["alt"], warmup, steps))
        runs["train_bare"].append(bare_train(cfg, x_train, y_train, warmup, steps))
        runs["train_per_sample"].append(
            per_sample_train(cfg, datamodule, warmup, steps, args.workers, device)
        )
        runs["eval_ours"].append(ours_eval(cfg, args.eval_warmup))
        if args.alternative:
            runs["eval_alt"].append(ours_eval(configs["alt"], args.eval_warmup))
        runs["eval_bare"].append(bare_eval(cfg, x_test, y_test, args.eval_warmup))
        runs["eval_per_sample"].append(
            per_sample_eval(cfg, datamodule, args.eval_warmup, args.workers, device)
        )
    result = {
        "model": model,
        "data": data,
        "device": str(device),
        "timed_steps": steps,
        "rounds": runs,
    }
    for stage in ("train", "eval"):
        for p in pipelines:
            result[f"{stage}_{p}"] = statistics.median(runs[f"{stage}_{p}"])
        for a, b in (("ours", "bare"), ("ours", "per_sample"), ("bare", "per_sample")):
            result[f"{stage}_{a}_over_{b}"] = median_ratio(runs, stage, a, b)
        if args.alternative:
            result[f"{stage}_alt_over_ours"] = median_ratio(runs, stage, "alt", "ours")
    return result


def median_ratio(runs: dict[str, list[float]], stage: str, a: str, b: str) -> float:
    """Median over rounds of pipeline a's throughput over pipeline b's in the same round."""
    pairs = zip(runs[f"{stage}_{a}"], runs[f"{stage}_{b}"], strict=True)
    return statistics.median(x / y for x, y in pairs)


def add_variant_overhead(results: list[dict]) -> None:
    """How much more a variant costs us than the bare loop on the same input size: ours/bare on
    the plain data over ours/bare on the variant, minus one (0.05 = 5% extra)."""
    plain = {r["model"]: r for r in results if r["data"] in ("mnist", "fashion")}
    for r in results:
        base = plain.get(r["model"])
        if base is not None and r is not base:
            r["variant_extra"] = base["train_ours_over_bare"] / r["train_ours_over_bare"] - 1


def print_table(results: list[dict]) -> None:
    alternative = "train_alt_over_ours" in results[0]
    header = (
        "| model | data | ours img/s | bare img/s | per-sample img/s | ours/bare "
        "| ours/per-sample | bare/per-sample | variant extra "
        "| eval ours | eval bare | eval per-sample | eval ours/bare |"
        + (" alt/ours | eval alt/ours |" if alternative else "")
    )
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))
    for r in results:
        extra = r.get("variant_extra")
        row = (
            f"| {r['model']} | {r['data']} | {r['train_ours']:,.0f} | {r['train_bare']:,.0f} "
            f"| {r['train_per_sample']:,.0f} | {r['train_ours_over_bare']:.2f} "
            f"| {r['train_ours_over_per_sample']:.1f} | {r['train_bare_over_per_sample']:.1f} | "
            f"{'' if extra is None else f'{extra:+.0%}'} | {r['eval_ours']:,.0f} "
            f"| {r['eval_bare']:,.0f} | {r['eval_per_sample']:,.0f} "
            f"| {r['eval_ours_over_bare']:.2f} |"
        )
        if alternative:
            row += f" {r['train_alt_over_ours']:.2f} | {r['eval_alt_over_ours']:.2f} |"
        print(row)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["mlp", "lenet5"])
    parser.add_argument("--data", nargs="+", default=["mnist", "mnist_shifted", "mnist_permuted"])
    parser.add_argument(
        "--batches",
        type=int,
        help=f"timed optimizer steps per round (default {FULLY_CONNECTED_BATCHES} for "
        f"fully connected models, {CONV_BATCHES} for conv nets)",
    )
    parser.add_argument("--warmup", type=int, default=8, help="optimizer steps before timing")
    parser.add_argument("--eval-warmup", type=int, default=1, help="test batches before timing")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (per-sample)")
    parser.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides for all")
    parser.add_argument(
        "--alternative",
        nargs="*",
        default=[],
        help="overrides of a fourth pipeline: ours with them",
    )
    parser.add_argument("--no-train-run", action="store_true", help="skip the train.py runs")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    args = parser.parse_args(argv)
    for name in ("rounds", "threads", "batches", "workers", "warmup", "eval_warmup"):
        value, least = getattr(args, name), 0 if name in ("workers", "warmup", "eval_warmup") else 1
        if value is not None and value < least:
            parser.error(f"--{name.replace('_', '-')} {value}: must be at least {least}")
    if args.json and not args.json.parent.is_dir():  # known before minutes of measuring
        parser.error(f"--json {args.json}: the folder {args.json.parent} does not exist")

    if args.threads:
        # Also for the train.py subprocesses. On a shared machine more threads than free cores
        # make every pipeline erratic (OpenMP threads wait on each other).
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    report = {}
    with tempfile.TemporaryDirectory(prefix="benchmark_") as tmp:
        out = Path(tmp)
        if not args.no_train_run:  # first: the peak memory is that of the first child process
            log_dir = f"paths.log_dir={out / 'train_py_logs'}"
            report["train_py_default"] = run_train_py([log_dir, *args.override])
            report["train_py_startup"] = run_train_py(
                [log_dir, "debug=fast_dev_run", *args.override]
            )
            report["train_py_startup"].pop("peak_rss_mb")
        results = []
        for model in args.models:
            for data in args.data:
                results.append(benchmark_config(model, data, args, out))
                r = results[-1]
                print(
                    f"{model} {data}: ours {r['train_ours']:,.0f} bare {r['train_bare']:,.0f} "
                    f"per-sample {r['train_per_sample']:,.0f} img/s",
                    file=sys.stderr,
                )
        add_variant_overhead(results)
        report |= {
            "machine": {
                "cpu_count": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "python": platform.python_version(),
                "load_average": os.getloadavg(),
            },
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "results": results,
        }
    print_table(results)
    if not args.no_train_run:
        s, d = report["train_py_startup"], report["train_py_default"]
        print(f"\ntrain.py debug=fast_dev_run (start-up): {s['wall_s']:.1f} s")
        print(f"train.py (default run): {d['wall_s']:.1f} s, peak RSS {d['peak_rss_mb']:,.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    try:
        main()
    except (*USER_ERRORS, HydraException, OmegaConfBaseException) as err:  # missing data, a bad
        raise SystemExit(f"benchmark.py: {describe(err)}") from None  # override: one line
