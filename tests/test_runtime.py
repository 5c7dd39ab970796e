"""How a process uses the CPU: OpenMP's wait policy, the allocator, threads, precision."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from mlp_vs_cnn import runtime
from tests.conftest import ROOT


def network(name: str, image_size: int = 28) -> torch.nn.Module:
    cfg = OmegaConf.load(ROOT / "conf" / "model" / f"{name}.yaml")
    cfg.image_size, cfg.num_classes = image_size, 10
    return instantiate(cfg)


def test_importing_the_package_makes_openmp_threads_sleep_while_they_wait_unless_told_otherwise():
    code = "import os, mlp_vs_cnn; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    default = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert default.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # the user's own setting is kept
    chosen = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert chosen.stdout.strip() == "ACTIVE"


# Page faults per training step of LeNet-5 on a batch of 256 56x56 images, whose largest
# activations (55 MB) are above glibc's largest mmap threshold: mapped afresh at every step unless
# freed memory is kept.
FAULTS_PER_STEP = """
import resource, sys, torch
if sys.argv[1] == "tuned":
    import mlp_vs_cnn  # noqa: F401  (tunes the allocator)
from torch import nn
torch.manual_seed(0)
torch.set_num_threads(1)
net = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                    nn.Linear(20 * 26 * 26, 10))
optimizer = torch.optim.Adam(net.parameters())
x, y = torch.randn(256, 1, 56, 56), torch.randint(0, 10, (256,))
def step():
    loss = nn.functional.cross_entropy(net(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
step(); step()
faults = []
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(min(faults))  # the steady state: now and then the heap grows once more
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")
def test_a_conv_net_step_reuses_the_memory_of_the_last_one_instead_of_faulting_it_in_again():
    def faults_per_step(how: str) -> int:
        command = [sys.executable, "-c", FAULTS_PER_STEP, how]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
        return int(result.stdout)

    assert faults_per_step("default") > 10_000  # glibc's default: about 85,000 a step here
    assert faults_per_step("tuned") < 1_000


def test_the_allocator_is_tuned_once_per_process(monkeypatch):
    first = runtime.keep_freed_memory()

    def no_second_time(*args, **kwargs):
        raise AssertionError("the C library was opened again")

    monkeypatch.setattr(runtime.ctypes, "CDLL", no_second_time)
    assert runtime.keep_freed_memory() == first


def test_small_networks_train_on_one_thread_and_conv_nets_on_every_core():
    assert runtime.threads_for(network("mlp"), torch.zeros(1, 1, 28, 28)) == 1
    assert runtime.threads_for(network("fc_small"), torch.zeros(1, 1, 28, 28)) == 1
    conv = runtime.threads_for(network("lenet5"), torch.zeros(1, 1, 28, 28))
    assert conv == torch.get_num_threads()
    flops = runtime.flops_per_image(network("lenet5"), torch.zeros(1, 1, 28, 28))
    assert flops == 2 * (24 * 24 * 20 * 25 + 8 * 8 * 50 * 20 * 25 + 800 * 500 + 500 * 10)


def test_a_run_uses_the_threads_chosen_for_its_network_unless_num_threads_is_set(compose_cfg):
    from mlp_vs_cnn.training import build

    threads = torch.get_num_threads()
    try:
        build(compose_cfg("model=mlp", "logger=none"))
        assert torch.get_num_threads() == 1
        build(compose_cfg("model=mlp", "logger=none", "num_threads=2"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_fast_precision_is_bf16_only_where_bfloat16_is_native(monkeypatch):
    monkeypatch.setattr(runtime, "native_bf16", lambda: True)
    assert runtime.fast_precision() == "bf16-mixed"
    monkeypatch.setattr(runtime, "native_bf16", lambda: False)
    assert runtime.fast_precision() == "32-true"
