"""Analyses of trained networks (shift robustness), run after testing and written with the run."""

from mlp_vs_cnn.analysis.shift import ShiftRobustness, ShiftRobustnessCallback, shift_robustness

__all__ = ["ShiftRobustness", "ShiftRobustnessCallback", "shift_robustness"]
