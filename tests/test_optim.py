"""β-LASSO: SGD on the loss plus an L1 penalty, then a hard threshold at beta * l1."""

from __future__ import annotations

import pytest
import torch

from mlp_vs_cnn.optim import BetaLasso


def _step(optimizer_class, weight: torch.Tensor, grad: torch.Tensor, **options) -> torch.Tensor:
    p = torch.nn.Parameter(weight.clone())
    p.grad = grad.clone()
    optimizer_class([p], **options).step()
    return p.detach()


def test_a_step_zeroes_the_weights_below_the_threshold_and_moves_the_rest_as_sgd_plus_l1():
    lr, l1, beta = 0.1, 0.01, 5.0  # threshold beta * l1 = 0.05
    weight = torch.tensor([0.5, -0.5, 0.05, -0.04, 0.3, 0.0])
    grad = torch.tensor([0.2, -0.1, 0.0, 0.0, 2.5, -1.0])  # 0.3 falls below, 0 grows
    stepped = _step(BetaLasso, weight, grad, lr=lr, l1=l1, beta=beta)
    sgd = _step(torch.optim.SGD, weight, grad, lr=lr)
    expected = sgd - lr * l1 * torch.sign(weight)  # SGD's step and the L1 subgradient's
    small = expected.abs() < beta * l1
    assert small.tolist() == [False, False, True, True, True, False]
    assert (stepped[small] == 0).all()
    assert torch.allclose(stepped[~small], expected[~small], atol=0, rtol=1e-6)


def test_without_a_penalty_it_is_plain_sgd():
    g = torch.Generator().manual_seed(0)
    weight, grad = torch.randn(50, generator=g), torch.randn(50, generator=g)
    assert torch.equal(
        _step(BetaLasso, weight, grad, lr=0.05, l1=0.0),
        _step(torch.optim.SGD, weight, grad, lr=0.05),
    )


def test_parameters_without_a_gradient_are_left_alone():
    frozen = torch.nn.Parameter(torch.full((3,), 1e-6))  # below any threshold, but not trained
    BetaLasso([frozen], lr=0.1, l1=1e-3, beta=50).step()
    assert (frozen == 1e-6).all()


@pytest.mark.parametrize("options", [{"lr": 0.0}, {"l1": -1e-4}, {"beta": -1.0}])
def test_a_meaningless_setting_is_refused(options):
    with pytest.raises(ValueError):
        BetaLasso([torch.nn.Parameter(torch.zeros(2))], **options)
