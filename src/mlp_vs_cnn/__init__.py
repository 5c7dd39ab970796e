"""Why convolutional networks beat multilayer perceptrons on images: MNIST and Fashion-MNIST,
original, shifted and permuted, with PyTorch Lightning and Hydra."""

import os

# OpenMP threads sleep while they wait instead of spinning, so that a run on a machine busy with
# other jobs does not fight them for the cores. OpenMP reads this when torch loads it: here, before
# anything of the package imports torch (a process that imported torch already keeps its policy;
# its child processes get this one). See mlp_vs_cnn/runtime.py.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from mlp_vs_cnn.runtime import keep_freed_memory  # noqa: E402

keep_freed_memory()
