"""Analyses of trained networks (shift robustness), run after testing and written with the run."""

from mlp_vs_cnn.analysis.shift import ShiftRobustness, shift_robustness

__all__ = ["ShiftRobustness", "shift_robustness"]
