"""How a process of this project uses the CPU: OpenMP's wait policy, the allocator, the threads.

Set once, when the package is imported (`mlp_vs_cnn/__init__.py`, before it imports torch):

- **OpenMP threads sleep when they wait** (`OMP_WAIT_POLICY=PASSIVE`, unless the environment sets
  it). By default they spin, so on a machine whose cores are busy with other jobs a run's own
  threads take turns with those jobs while spinning: LeNet-5 steps took 444 ms instead of 68 ms
  with two CPU-bound processes beside it (docs/performance.md).
- **Freed memory is kept for the next step** (glibc's `mallopt`): otherwise each large
  activation of a conv net is mapped from the OS at every step and returned after it, and the
  kernel's page faults cost a fifth of a LeNet-5 step on the 56x56 canvas (sys time 102 ms of
  503 ms; 51,650 page faults a step).

Threads per run are chosen from the network (`threads_for`): a second thread pays for waking it
only when a step has enough work.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
# Below this forward cost per image a second thread makes a training step slower, not faster:
# measured on 2 cores for every model at 28x28 and 56x56 (docs/performance.md).
MIN_FLOPS_PER_IMAGE_FOR_THREADS = 250_000

_allocator_tuned: bool | None = None


def keep_freed_memory() -> bool:
    """Serve every allocation from the heap and never trim it, so that memory freed after a step
    is reused by the next one instead of returned to the OS. Applied once per process; False where
    the C library is not glibc (the setting does not exist there)."""
    global _allocator_tuned
    if _allocator_tuned is None:
        _allocator_tuned = False
        name = ctypes.util.find_library("c")
        if sys.platform.startswith("linux") and name:
            libc = ctypes.CDLL(name)
            if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version"):
                # Large blocks from the heap, not mmap (whose blocks go back to the OS on free),
                # and a heap top that is never given back: the peak of a run stays mapped.
                _allocator_tuned = bool(
                    libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, 2**30)
                )
    return _allocator_tuned


def flops_per_image(net: nn.Module, image: torch.Tensor) -> int:
    """Floating-point operations of one forward pass of `image` (a batch of one), by torch's
    FLOP counter."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(image)
    return counter.get_total_flops()


def threads_for(net: nn.Module, image: torch.Tensor) -> int:
    """Torch threads for training `net` on images like `image`: one for a small network, else
    torch's default (one per core, or $OMP_NUM_THREADS)."""
    if flops_per_image(net, image) < MIN_FLOPS_PER_IMAGE_FOR_THREADS:
        return 1
    return torch.get_num_threads()


def native_bf16() -> bool:
    """Whether this machine computes in bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AVX-512 BF16 or AMX (elsewhere torch emulates it, slower than float32)."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def fast_precision() -> str:
    """Lightning's `precision` that trains fastest here: bf16-mixed where bfloat16 is native, else
    32-true (the `${fast_precision:}` of the recipes that ask for it)."""
    return "bf16-mixed" if native_bf16() else "32-true"
