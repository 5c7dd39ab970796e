"""Analyses of trained networks (shift robustness, locality of a first layer), run after testing
and written with the run."""

from mlp_vs_cnn.analysis.locality import window_share
from mlp_vs_cnn.analysis.shift import ShiftRobustness, shift_robustness

__all__ = ["ShiftRobustness", "shift_robustness", "window_share"]
