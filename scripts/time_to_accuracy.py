"""Time to accuracy: from the command to a model at a target test accuracy, whole processes.

    python scripts/time_to_accuracy.py                       # the table of docs/performance.md
    python scripts/time_to_accuracy.py --targets lenet5_mnist --rounds 1 --json tta.json

For each target, our recipe (`python train.py experiment=time_to_accuracy model=... data=...`)
and its peers run as whole processes, one after the other, in an order that rotates from round to
round, on the same machine and threads. Each is timed from its start until its model reaches the
target test accuracy on the 10,000 test images:
  ours                   the whole `train.py` process: start-up, fit (validating each epoch),
                         test of the best checkpoint; reached if that test accuracy is the target
  pytorch_example        the official PyTorch examples' MNIST recipe (scripts/peers/), stopped
                         after the first epoch whose test reaches the target
  per_sample             the source notebooks' per-sample torchvision pipeline and a plain loop,
                         training our network with our recipe's settings (scripts/peers/)
  lightning_template     lightning-hydra-template's MNIST MLP under a Lightning Trainer
                         (scripts/peers/; its own test after each epoch is not counted)
Wall and CPU seconds (user + sys, of the process and its children) are reported, and the ratios
peer / ours of the wall seconds in the same round (median over rounds). The start-up time is
`python train.py debug=fast_dev_run` (one batch of each stage), timed in the same rounds.

The peers read torchvision's layout of decompressed IDX files; they are decompressed once into a
temporary folder before timing starts (torchvision would download them otherwise).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "scripts" / "peers"
PEER_LINE = "PEER_EPOCH "


@dataclass(frozen=True)
class Target:
    """A model to train to a test accuracy, by our recipe and by each of its peers."""

    name: str
    accuracy: float
    overrides: list[str]  # of our recipe (and of the per-sample peer, which trains the same)
    dataset: str  # torchvision folder name
    peers: tuple[str, ...]
    notes: list[str] = field(default_factory=list)


TARGETS = {
    t.name: t
    for t in (
        Target(
            "lenet5_mnist", 0.990, ["model=lenet5", "data=mnist"], "MNIST",
            ("pytorch_example", "per_sample"),
        ),
        Target(
            "mlp_mnist", 0.975, ["model=mlp", "data=mnist", "trainer.max_epochs=16"], "MNIST",
            ("per_sample", "lightning_template"),
        ),
        Target(
            "lenet5_fashion", 0.900, ["model=lenet5", "data=fashion", "trainer.max_epochs=3"],
            "FashionMNIST",
            ("pytorch_example", "per_sample"),
        ),
    )
}  # fmt: skip


def ours_command(target: Target, run_dir: Path) -> list[str]:
    return [
        sys.executable, str(ROOT / "train.py"), "experiment=time_to_accuracy", *target.overrides,
        f"hydra.run.dir={run_dir}", "trainer.enable_progress_bar=false",
    ]  # fmt: skip


def peer_command(peer: str, target: Target, root: Path) -> list[str]:
    common = ["--root", str(root), "--dataset", target.dataset, "--target", str(target.accuracy)]
    if peer == "pytorch_example":
        return [sys.executable, str(PEERS / "pytorch_mnist_example.py"), *common]
    if peer == "lightning_template":
        return [sys.executable, str(PEERS / "lightning_template_mlp.py"), *common]
    if peer == "per_sample":
        overrides = ["experiment=time_to_accuracy", *target.overrides]
        return [sys.executable, str(PEERS / "per_sample.py"), *common, "--", *overrides]
    raise ValueError(f"unknown peer {peer}")


def run_timed(command: list[str], env: dict[str, str]) -> tuple[float, float, list[tuple], str]:
    """Run `command`; its wall seconds, CPU seconds (user + sys), the PEER_EPOCH lines it printed
    with the wall second each arrived at, and its stderr's tail if it failed."""
    with tempfile.TemporaryFile("w+") as stderr:  # a file: a pipe left unread would block it
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        epochs = []
        for line in process.stdout:
            if line.startswith(PEER_LINE):
                epochs.append((time.perf_counter() - started, json.loads(line[len(PEER_LINE) :])))
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        stderr.seek(0)
        failed = stderr.read()[-2000:] if os.waitstatus_to_exitcode(status) else ""
    return wall, usage.ru_utime + usage.ru_stime, epochs, failed


def time_ours(target: Target, out: Path, env: dict[str, str]) -> dict:
    run_dir = out / f"ours_{target.name}_{time.monotonic_ns()}"
    wall, cpu, _, failed = run_timed(ours_command(target, run_dir), env)
    if failed:
        return {"error": failed}
    record = json.loads((run_dir / "metrics.json").read_text())
    accuracy = record["metrics"]["test/acc"]
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "fit_s": record["fit_seconds"],  # the rest of wall_s is the run's fixed cost
        "epochs": record["epochs"],
        "test_acc": accuracy,
        "reached": accuracy >= target.accuracy,
    }


def time_peer(peer: str, target: Target, root: Path, env: dict[str, str]) -> dict:
    wall, cpu, epochs, failed = run_timed(peer_command(peer, target, root), env)
    if failed:
        return {"error": failed}
    reached = [(t, e) for t, e in epochs if e["test_acc"] >= target.accuracy]
    arrived, epoch = reached[0] if reached else epochs[-1]
    # The Lightning template tests only at its end: its per-epoch test is ours, not counted.
    arrived -= epoch.get("extra_test_seconds", 0.0)
    return {
        "wall_s": round(arrived, 2),
        "process_wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "epochs": epoch["epoch"],
        "test_acc": epoch["test_acc"],
        "reached": bool(reached),
        "accuracy_by_epoch": [e["test_acc"] for _, e in epochs],
    }


def time_startup(out: Path, env: dict[str, str]) -> dict:
    command = [
        sys.executable, str(ROOT / "train.py"), "debug=fast_dev_run",
        f"hydra.run.dir={out / f'startup_{time.monotonic_ns()}'}",
    ]  # fmt: skip
    wall, cpu, _, failed = run_timed(command, env)
    if failed:
        raise RuntimeError(f"train.py debug=fast_dev_run failed:\n{failed}")
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def decompressed_copy(data_dir: Path, datasets: set[str], out: Path) -> Path:
    """torchvision's layout of raw IDX files, decompressed, for the peers that use its classes."""
    root = out / "torchvision_root"
    for dataset in datasets:
        source = data_dir / dataset / "raw"
        files = sorted(source.glob("*-ubyte*"))
        if len(files) < 4:
            raise SystemExit(
                f"time_to_accuracy.py: {source} lacks the four IDX files of {dataset}; set "
                f"DATA_DIR to the folder holding {dataset}/raw/"
            )
        (root / dataset / "raw").mkdir(parents=True, exist_ok=True)
        for f in files:
            name = f.name.removesuffix(".gz")
            with gzip.open(f) if f.suffix == ".gz" else open(f, "rb") as src:
                with open(root / dataset / "raw" / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    return root


def print_table(report: dict) -> None:
    startup = statistics.median(r["wall_s"] for r in report["startup"])
    print(f"\nstart-up (train.py debug=fast_dev_run, whole process): {startup:.1f} s wall\n")
    print("| target | recipe | reached | epochs | test acc | wall s | CPU s | wall / ours |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, result in report["targets"].items():
        accuracy = TARGETS[name].accuracy
        for recipe, runs in result["runs"].items():
            if any("error" in r for r in runs):
                error = next(r["error"] for r in runs if "error" in r).strip().splitlines()[-1]
                print(f"| {name} {accuracy:.1%} | {recipe} | failed: {error} | | | | | |")
                continue
            last = runs[-1]
            ratio = result["ratios"].get(recipe)
            # A peer that never reached the target would have needed longer: a lower bound.
            bound = "" if all(r["reached"] for r in runs) else ">"
            print(
                f"| {name} {accuracy:.1%} | {recipe} | {'yes' if last['reached'] else 'NO'} "
                f"| {last['epochs']} | {last['test_acc']:.2%} "
                f"| {statistics.median(r['wall_s'] for r in runs):.1f} "
                f"| {statistics.median(r['cpu_s'] for r in runs):.1f} "
                f"| {'' if ratio is None else f'{bound}{ratio:.1f}x'} |"
            )
        ours = statistics.median(r["wall_s"] for r in result["runs"]["ours"] if "wall_s" in r)
        print(f"| {name} {accuracy:.1%} | ours / start-up | | | | {ours / startup:.1f}x | | |")
    fixed = [
        f"{name} {statistics.median(r['wall_s'] - r['fit_s'] for r in runs):.1f} s"
        for name, result in report["targets"].items()
        if (runs := [r for r in result["runs"]["ours"] if "fit_s" in r])
    ]
    print(f"\nours, whole process minus its fit (start-up, test, record): {', '.join(fixed)}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--rounds", type=int, default=1, help="repetitions, in rotated order")
    parser.add_argument("--no-peers", action="store_true", help="time our recipe only")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of every process")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.rounds < 1 or (args.threads is not None and args.threads < 1):
        raise SystemExit("time_to_accuracy.py: --rounds and --threads must be >= 1")
    if args.json and not args.json.parent.is_dir():
        raise SystemExit(f"time_to_accuracy.py: --json {args.json}: no folder {args.json.parent}")
    from mlp_vs_cnn.data.datamodule import default_data_dir  # the folder train.py would read

    data_dir = Path(default_data_dir())
    # Every process gets the wait policy ours sets for itself: with OpenMP's default (spinning)
    # a peer on a machine with other work would lose to contention, not to its recipe.
    env = dict(os.environ, DATA_DIR=str(data_dir), OMP_WAIT_POLICY="PASSIVE")
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)

    targets = [TARGETS[name] for name in args.targets]
    report = {"targets": {t.name: {"runs": {}} for t in targets}, "startup": []}
    with tempfile.TemporaryDirectory(prefix="time_to_accuracy_") as tmp:
        out = Path(tmp)
        root = decompressed_copy(data_dir, {t.dataset for t in targets}, out)
        for round_ in range(args.rounds):
            report["startup"].append(time_startup(out, env))
            for target in targets:
                recipes = ["ours", *([] if args.no_peers else target.peers)]
                shift = round_ % len(recipes)
                for recipe in recipes[shift:] + recipes[:shift]:
                    if recipe == "ours":
                        result = time_ours(target, out, env)
                    else:
                        result = time_peer(recipe, target, root, env)
                    report["targets"][target.name]["runs"].setdefault(recipe, []).append(result)
                    shown = result.get("error", "").strip().splitlines()[-1:] or [
                        f"{result['wall_s']:.1f} s, test {result['test_acc']:.2%} after "
                        f"{result['epochs']} epochs"
                    ]
                    print(f"round {round_ + 1} {target.name} {recipe}: {shown[0]}", file=sys.stderr)
    for target in targets:
        result = report["targets"][target.name]
        ours = result["runs"]["ours"]
        result["ratios"] = {}
        for recipe, runs in result["runs"].items():
            pairs = [
                (p, o) for p, o in zip(runs, ours, strict=True) if "wall_s" in p and "wall_s" in o
            ]
            if recipe != "ours" and pairs:
                result["ratios"][recipe] = statistics.median(
                    p["wall_s"] / o["wall_s"] for p, o in pairs
                )
    import torch  # only for the machine's description

    report["machine"] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": args.threads or torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }
    report["args"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
