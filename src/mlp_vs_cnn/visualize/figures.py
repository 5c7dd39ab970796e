"""Drawing and writing figures: image grids with labels, and one writer for TensorBoard and PNG.

Figures are `matplotlib.figure.Figure` objects built without pyplot (no global state, no GUI
backend). Each is rendered once; the same pixels go to TensorBoard's IMAGES tab and to a PNG
file named after its tag (`samples/model_input` -> `<figure_dir>/samples/model_input.png`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from mlp_vs_cnn.data.transforms import unpermute_pixels

log = logging.getLogger(__name__)

PAD = 2  # pixels of background between the images of a grid


def readable(images: torch.Tensor, permutation: torch.Tensor | None) -> torch.Tensor:
    """Images [..., H, W] in the pixel order a person can read: un-permuted if permuted."""
    return images if permutation is None else unpermute_pixels(images, permutation)


def _scaled(images: torch.Tensor, scale: str, symmetric: bool) -> torch.Tensor:
    """Map images [N, H, W] to [0, 1] ([-1, 1] if symmetric), per image or over all of them."""
    x = images.detach().float().cpu()
    dims = (1, 2) if scale == "each" else (0, 1, 2)
    finite = torch.where(x.isfinite(), x, torch.zeros_like(x))
    if symmetric:
        return x / finite.abs().amax(dim=dims, keepdim=True).clamp_min(1e-12)
    low = torch.where(x.isfinite(), x, torch.full_like(x, torch.inf)).amin(dim=dims, keepdim=True)
    high = torch.where(x.isfinite(), x, torch.full_like(x, -torch.inf)).amax(dim=dims, keepdim=True)
    return (x - low) / (high - low).clamp_min(1e-12)


def grid_figure(
    images: torch.Tensor,
    ncols: int,
    title: str = "",
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    scale: str = "all",
    symmetric: bool = False,
    cmap: str | None = None,
) -> Figure:
    """A grid of images [N, H, W] or [N, 1, H, W], `ncols` per row, with row and column labels.

    Args:
        scale: "all" puts every image on one grey scale (inputs of a batch); "each" stretches
            each image to its own range (weights, synthesised images).
        symmetric: centre the colour scale on zero (for weights), with a diverging colour map.
        cmap: matplotlib colour map; grey (or red-blue if symmetric) by default.
    NaN images are left blank (for rows with fewer images than others).
    """
    if images.dim() == 4:
        images = images[:, 0]
    n, height, width = images.shape
    nrows = max(1, -(-n // ncols))
    scaled = _scaled(images, scale, symmetric).numpy()
    canvas = np.full((nrows * (height + PAD) + PAD, ncols * (width + PAD) + PAD), np.nan)
    for i in range(n):
        r, c = divmod(i, ncols)
        top, left = PAD + r * (height + PAD), PAD + c * (width + PAD)
        canvas[top : top + height, left : left + width] = scaled[i]

    cell = 0.35 + height / 80  # inches per image: 0.7 for 28x28, 1.05 for 56x56
    label_width = 0.12 * max((len(s) for s in row_labels or [""]), default=0)
    top_margin = 0.35 + 0.2 * title.count("\n") + (0.5 if col_labels else 0)
    fig = Figure(
        figsize=(ncols * cell + label_width + 0.3, nrows * cell + top_margin + 0.2),
        dpi=100,
        layout="constrained",
    )
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colour_map = _colour_map(cmap or ("RdBu_r" if symmetric else "gray"))
    ax.imshow(canvas, cmap=colour_map, vmin=-1 if symmetric else 0, vmax=1, interpolation="nearest")
    ax.set_yticks(_centres(nrows, height) if row_labels else [], labels=row_labels or [])
    ax.set_xticks(_centres(ncols, width) if col_labels else [], labels=col_labels or [])
    ax.tick_params(length=0, labelsize=9, labeltop=bool(col_labels), labelbottom=False)
    if col_labels:
        ax.tick_params(axis="x", labelrotation=45)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=10)
    return fig


def _centres(count: int, size: int) -> list[float]:
    """Canvas coordinates of the centres of `count` images of side `size` along one axis."""
    return [PAD + i * (size + PAD) + (size - 1) / 2 for i in range(count)]


def _colour_map(name: str):
    import matplotlib

    colour_map = matplotlib.colormaps[name].copy()
    colour_map.set_bad("white")  # padding and blank cells
    return colour_map


def render(fig: Figure) -> np.ndarray:
    """The figure's pixels, RGB uint8 [H, W, 3]."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


class FigureWriter:
    """Writes figures to TensorBoard (IMAGES tab) and as PNG files under `figure_dir`.

    Args:
        figure_dir: folder of the PNG files, or None for none.
        summary_writers: TensorBoard `SummaryWriter`s (a TensorBoardLogger's `experiment`).
        step: global step the images are logged at.
    """

    def __init__(self, figure_dir: str | Path | None, summary_writers=(), step: int = 0) -> None:
        self.figure_dir = Path(figure_dir) if figure_dir else None
        self.summary_writers = list(summary_writers)
        self.step = step

    @classmethod
    def for_trainer(cls, trainer, figure_dir: str | Path | None) -> FigureWriter:
        """Write to the trainer's TensorBoard loggers, and PNGs to `figure_dir` (default:
        `<default_root_dir>/figures`)."""
        writers = [lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        figure_dir = figure_dir or Path(trainer.default_root_dir) / "figures"
        return cls(figure_dir, writers, trainer.global_step)

    def write(self, figures: Mapping[str, Figure]) -> list[Path]:
        paths = []
        for tag, fig in figures.items():
            pixels = render(fig)
            for writer in self.summary_writers:
                writer.add_image(tag, pixels, self.step, dataformats="HWC")
            if self.figure_dir is not None:
                path = self.figure_dir / f"{tag}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(path)
                paths.append(path)
        for writer in self.summary_writers:
            writer.flush()
        return paths
