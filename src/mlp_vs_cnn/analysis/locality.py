"""How local a fully connected layer is: the share of each unit's weight mass near its centre.

A unit of an MLP's first layer has one weight per pixel. Read as an image (in pixel order: a
network trained on permuted pixels is un-permuted first), a convolution-like unit has its mass
in one small patch; an unconstrained one spreads it over the digit's whole area. The measure of
a unit is the share of its absolute weight inside a `window` x `window` square centred on its
(rounded) centre of mass, moved inside the image where the centre is near an edge: 1 for a unit
whose weights all lie within `window // 2` pixels of that centre on each axis,
`window**2 / (H * W)` for uniform weights (25 / 784 = 3.2 % on MNIST). A unit whose weights
are all zero (pruned by β-LASSO) has no centre: NaN.
"""

from __future__ import annotations

import torch


def window_share(maps: torch.Tensor, window: int = 5) -> torch.Tensor:
    """maps [N, H, W] -> [N]: the share of each map's |weight| within `window` x `window` of
    its centre of mass; NaN where a map is all zero."""
    if maps.dim() != 3:
        raise ValueError(f"expected weight maps [N, H, W], got shape {tuple(maps.shape)}")
    _, height, width = maps.shape
    if not 0 < window <= min(height, width):
        raise ValueError(f"window must be between 1 and {min(height, width)}, got {window}")
    mass = maps.detach().abs().double()
    total = mass.sum(dim=(1, 2))
    rows = torch.arange(height, dtype=mass.dtype, device=mass.device)
    cols = torch.arange(width, dtype=mass.dtype, device=mass.device)
    centre_row = (mass.sum(dim=2) * rows).sum(dim=1) / total
    centre_col = (mass.sum(dim=1) * cols).sum(dim=1) / total
    half = window // 2
    top = (centre_row.nan_to_num(0).round() - half).clamp(0, height - window)
    left = (centre_col.nan_to_num(0).round() - half).clamp(0, width - window)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + window)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + window)
    inside = in_rows[:, :, None] & in_cols[:, None, :]
    return (mass * inside).sum(dim=(1, 2)) / total  # 0 / 0 = NaN for an all-zero map
