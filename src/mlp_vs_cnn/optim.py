"""β-LASSO (Neyshabur, NeurIPS 2020, "Towards Learning Convolutions from Scratch", Algorithm 1).

Plain SGD on the loss plus an L1 penalty, then a hard threshold: every weight whose magnitude is
below β times the penalty is set to zero. With β = 1 it is LASSO by subgradient steps; a large β
(50 in the paper) prunes far more aggressively, and fully connected nets trained this way end up
with sparse, local first layers, like convolutions.

    python train.py model=two_fc optimizer=beta_lasso
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class BetaLasso(torch.optim.Optimizer):
    """Each step, for every parameter w with a gradient:

        w <- w - lr * (grad + l1 * sign(w))
        w <- 0 where |w| < beta * l1

    Args:
        params: the parameters (or parameter groups) to train.
        lr: learning rate.
        l1: λ, the weight of the L1 penalty; 0 gives plain SGD.
        beta: β, the threshold in units of λ (50 in the paper).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.1,
        l1: float = 1e-4,
        beta: float = 50.0,
    ) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if l1 < 0 or beta < 0:
            raise ValueError(f"l1 and beta must be zero or more, got l1={l1}, beta={beta}")
        super().__init__(params, {"lr": lr, "l1": l1, "beta": beta})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, l1, beta = group["lr"], group["l1"], group["beta"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.add_(p.grad + l1 * p.sign(), alpha=-lr)
                p.masked_fill_(p.abs() < beta * l1, 0.0)
        return loss
