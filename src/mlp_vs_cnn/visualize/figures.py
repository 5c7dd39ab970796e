"""Drawing and writing figures: image grids with labels, titles that name the run, one writer.

Figures are `matplotlib.figure.Figure` objects built without pyplot (no global state, no GUI
backend), laid out by matplotlib so that no label reaches past an edge. Every figure's title
says what it shows and of which run (`describe_run`: the network, its size, the data and its
variant), so a copied file keeps its context. `FigureWriter` renders each figure once, at its
`dpi` (150 by default) and cropped to its contents; the same pixels go to TensorBoard's IMAGES
tab and to a PNG file named after its tag (`samples/model_input` ->
`<figure_dir>/samples/model_input.png`), and on request a PDF (vector graphics) goes beside it.
"""

from __future__ import annotations

import io
import logging
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, MultipleLocator, PercentFormatter
from PIL import Image
from torch import nn

from mlp_vs_cnn.data.transforms import unpermute_pixels
from mlp_vs_cnn.models.cnn import BlurPool2d

log = logging.getLogger(__name__)

PAD = 2  # pixels of background between the images of a grid
DPI = 150  # resolution of the PNG files and TensorBoard images
FORMATS = ("png", "pdf")  # file formats `FigureWriter` and scripts/report.py can write
TITLE_SIZE = 10  # font size of every figure's title, in points
# TensorBoard lists the groups of tags (the part before the first "/") in name order: the figures
# go under one group that comes after the scalars' (test, time, train, val), so that the Time
# Series tab opens on the loss and accuracy curves. Their PNG files keep the tag alone.
IMAGE_GROUP = "visuals"


def new_figure(width: float, height: float, layout: str = "constrained") -> Figure:
    """An empty figure of `width` x `height` inches, drawn by Agg, whose layout keeps every label
    inside it ("compressed" for a grid of images, whose aspect is fixed)."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def describe_model(model: nn.Module) -> str:
    """E.g. "ConvNet (conv 20-50, fc 500, 431,080 parameters)": the network's class, the widths
    of its conv and hidden fully connected layers, and its size. `model` may be an
    `ImageClassifier` (its `.net` is described) or the network itself."""
    net = getattr(model, "net", model)
    parts = []
    convs = [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)]
    hidden = [m.out_features for m in net.modules() if isinstance(m, nn.Linear)][:-1]
    if convs:
        parts.append("conv " + "-".join(map(str, convs)))
    if any(isinstance(m, BlurPool2d) for m in net.modules()):
        parts.append("anti-aliased")
    if any(isinstance(m, nn.AdaptiveAvgPool2d) for m in net.modules()):
        parts.append("global average pool")
    if hidden:
        parts.append("fc " + "-".join(map(str, hidden)))
    parts.append(f"{sum(p.numel() for p in net.parameters()):,} parameters")
    return f"{type(net).__name__} ({', '.join(parts)})"


def describe_data(datamodule) -> str:
    """E.g. "MNIST, permuted pixels (permutation seed 0)" or "Fashion-MNIST shifted on a 56x56
    canvas (trained centred, tested at random positions)", from an `ImageDataModule`."""
    hp = datamodule.hparams
    name = {"FashionMNIST": "Fashion-MNIST"}.get(datamodule.dataset, datamodule.dataset)
    variants = []
    if hp.get("canvas_size"):
        where = {"center": "centred", "random": "at random positions"}
        train, test = (where[hp.get(f"{s}_placement", "random")] for s in ("train", "eval"))
        placement = train if train == test else f"trained {train}, tested {test}"
        variants.append(f"shifted on a {hp.canvas_size}x{hp.canvas_size} canvas ({placement})")
    if hp.get("permutation_seed") is not None:
        variants.append(f"permuted pixels (permutation seed {hp.permutation_seed})")
    return f"{name}, " + (" and ".join(variants) if variants else "original 28x28")


def describe_run(model: nn.Module | None = None, datamodule=None) -> str:
    """The run as a figure states it: "<model> on <data>", either part left out when not given.

    E.g. "ConvNet (conv 20-50, fc 500, 431,080 parameters) on MNIST, permuted pixels
    (permutation seed 0)".
    Figure functions use it unless the caller passes its own `context` (such as the Hydra
    choices, "lenet5 on mnist_permuted", which the functions cannot know).
    """
    parts = [describe_model(model) if model is not None else ""]
    parts.append(describe_data(datamodule) if datamodule is not None else "")
    return " on ".join(p for p in parts if p)


def suptitle(fig: Figure, *lines: str) -> None:
    """Set the figure's title to `lines` (what it shows, then which run), each wrapped so that
    the title fits the figure's width; empty lines are left out."""
    parts = [part for line in lines if line for part in line.split("\n") if part]
    title = fig.suptitle("\n".join(parts), fontsize=TITLE_SIZE)
    renderer = fig.canvas.get_renderer()
    available = (fig.get_figwidth() - 0.2) * fig.dpi
    chars = max(map(len, parts), default=0)
    while chars > 20 and title.get_window_extent(renderer).width > available:
        chars = int(0.9 * chars)
        wrapped = (textwrap.fill(part, chars, break_on_hyphens=False) for part in parts)
        title.set_text("\n".join(wrapped))


def chance_line(ax, chance: float | None, percent: bool = False) -> None:
    """A dashed grey line at the accuracy of guessing (1 / number of classes), across bars and
    curves, labelled just right of the axes (`percent`: the axis is in %, not fractions)."""
    if chance is None:
        return
    ax.axhline(chance, color="0.35", linestyle="--", linewidth=1, zorder=2.5)
    value = chance / 100 if percent else chance
    ax.annotate(
        f"chance\n{value:.0%}",
        xy=(1, chance),
        xycoords=("axes fraction", "data"),
        xytext=(4, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        fontsize=8,
        color="0.35",
    )


def percent_axis(axis, top: float = 1.0) -> None:
    """Label an axis of fractions (`top` = 1) or percentages (`top` = 100) in %."""
    axis.set_major_formatter(PercentFormatter(top, decimals=0))


def integer_ticks(axis, base: int | None = None) -> None:
    """Ticks only at whole numbers (pixels, classes), never at 2.5: at multiples of `base` if
    given, else at 1, 2 or 5 times a power of ten."""
    locator = MultipleLocator(base) if base else MaxNLocator(integer=True, steps=[1, 2, 5, 10])
    axis.set_major_locator(locator)


def outside_legend(ax, **kwargs) -> None:
    """The axes' legend to the right of it, off the data (constrained layout makes room)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, frameon=False, **kwargs)


def readable(images: torch.Tensor, permutation: torch.Tensor | None) -> torch.Tensor:
    """Images [..., H, W] in the pixel order a person can read: un-permuted if permuted."""
    return images if permutation is None else unpermute_pixels(images, permutation)


def _ranges(images: torch.Tensor, scale: str, symmetric: bool) -> tuple[torch.Tensor, ...]:
    """The colour range [low, high] of each image [N, H, W] ([N, 1, 1]) or of all ([1, 1, 1]),
    over finite values; symmetric ranges are [-max |x|, max |x|]."""
    dims = (1, 2) if scale == "each" else (0, 1, 2)
    finite = images.isfinite()
    if symmetric:
        high = torch.where(finite, images.abs(), 0).amax(dim=dims, keepdim=True).clamp_min(1e-12)
        return -high, high
    low = torch.where(finite, images, torch.inf).amin(dim=dims, keepdim=True)
    high = torch.where(finite, images, -torch.inf).amax(dim=dims, keepdim=True)
    return low, torch.maximum(high, low + 1e-12)


def grid_figure(
    images: torch.Tensor,
    ncols: int,
    title: str = "",
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    scale: str = "all",
    symmetric: bool = False,
    cmap: str | None = None,
    context: str = "",
    colorbar: str | None = None,
) -> Figure:
    """A grid of images [N, H, W] or [N, 1, H, W], `ncols` per row, with row and column labels.

    Args:
        title: what the grid shows (the first lines of the figure's title).
        scale: "all" puts every image on one scale (inputs of a batch); "each" stretches each
            image to its own range (weights, synthesised images).
        symmetric: centre the colour scale on zero (for weights), with a diverging colour map.
        cmap: matplotlib colour map; grey (or red-blue if symmetric) by default.
        context: the run, the last line of the title (see `describe_run`).
        colorbar: the quantity shown, e.g. "weight": adds a colour bar, in its units for scale
            "all", relative to each image's own range (whose extremes it states) for "each".
    NaN images are left blank (for rows with fewer images than others).
    """
    if images.dim() == 4:
        images = images[:, 0]
    images = images.detach().float().cpu()
    n, height, width = images.shape
    nrows = max(1, -(-n // ncols))
    low, high = _ranges(images, scale, symmetric)
    if scale == "each":  # each image to [0, 1], or [-1, 1] if symmetric
        shown = images / high if symmetric else (images - low) / (high - low)
        vmin, vmax = (-1.0 if symmetric else 0.0), 1.0
    else:
        shown, vmin, vmax = images, float(low), float(high)
    canvas = np.full((nrows * (height + PAD) + PAD, ncols * (width + PAD) + PAD), np.nan)
    for i in range(n):
        r, c = divmod(i, ncols)
        top, left = PAD + r * (height + PAD), PAD + c * (width + PAD)
        canvas[top : top + height, left : left + width] = shown[i].numpy()

    cell = max(0.65, 0.3 + height / 100)  # inches per image: 0.65 for 28x28, 0.86 for 56x56
    label_width = 0.075 * max((len(s) for s in row_labels or [""]), default=0)
    upright = 0.075 * max((len(s) for s in col_labels or [""]), default=0) <= cell
    label_height = 0.0 if not col_labels else 0.3 if upright else 0.8
    fig = new_figure(
        max(5.0, ncols * cell + label_width + 0.3),
        nrows * cell + label_height + (0.9 if colorbar else 0.0) + 0.3,
        layout="compressed",
    )
    suptitle(fig, title, context)
    fig.set_figheight(fig.get_figheight() + 0.17 * (fig.get_suptitle().count("\n") + 1))
    ax = fig.add_subplot()
    colour_map = _colour_map(cmap or ("RdBu_r" if symmetric else "gray"))
    image = ax.imshow(canvas, cmap=colour_map, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_yticks(_centres(nrows, height) if row_labels else [], labels=row_labels or [])
    ax.set_xticks(_centres(ncols, width) if col_labels else [], labels=col_labels or [])
    ax.tick_params(length=0, labelsize=9, labeltop=bool(col_labels), labelbottom=False)
    if not upright:
        ax.tick_params(axis="x", labelrotation=45)
        for label in ax.get_xticklabels():
            label.set(horizontalalignment="left", rotation_mode="anchor")
    for spine in ax.spines.values():
        spine.set_visible(False)
    if colorbar:
        bar = fig.colorbar(image, ax=ax, location="bottom", shrink=0.6, aspect=30, pad=0.02)
        bar.ax.tick_params(labelsize=8)
        if scale == "all":
            bar.set_label(colorbar, fontsize=9)
        elif symmetric:
            bar.set_ticks([-1, 0, 1], labels=["−max", "0", "+max"])
            extremes = f"{float(high.min()):.2g} to {float(high.max()):.2g}"
            bar.set_label(
                f"{colorbar} ÷ max |{colorbar}| of its image (max |{colorbar}|: {extremes})",
                fontsize=9,
            )
        else:
            bar.set_ticks([0, 1], labels=["min", "max"])
            bar.set_label(f"{colorbar}, each image from its own min to max", fontsize=9)
    return fig


def _centres(count: int, size: int) -> list[float]:
    """Canvas coordinates of the centres of `count` images of side `size` along one axis."""
    return [PAD + i * (size + PAD) + (size - 1) / 2 for i in range(count)]


def _colour_map(name: str):
    return matplotlib.colormaps[name].with_extremes(bad="white")  # padding and blank cells


def render_png(fig: Figure, dpi: float = DPI) -> bytes:
    """The figure as a PNG file at `dpi`, cropped to its contents: whatever a fixed aspect or a
    generous size left blank at the edges is cut, and nothing that reaches past them is lost."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.05)
    return buffer.getvalue()


def check_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """File formats as a tuple, from "png", ["png", "pdf"] or a config list; one line if unknown."""
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"figure formats must be among {FORMATS}, got {list(formats)}")
    return formats


def save_figure(
    fig: Figure,
    stem: Path,
    formats: str | Iterable[str] = ("png",),
    dpi: float = DPI,
    png: bytes | None = None,
) -> list[Path]:
    """Write `fig` to `<stem>.<format>` for each format: PNG at `dpi` (`png`: the figure already
    rendered by `render_png` at that dpi, if at hand), PDF as vector graphics, both cropped to
    the contents. Returns the paths written."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for file_format in check_formats(formats):
        path = stem.with_name(f"{stem.name}.{file_format}")
        if file_format == "png":
            path.write_bytes(png if png is not None else render_png(fig, dpi))
        else:
            fig.savefig(path, format=file_format, dpi=dpi, bbox_inches="tight", pad_inches=0.05)
        paths.append(path)
    return paths


class FigureWriter:
    """Writes figures to TensorBoard (IMAGES tab) and as files under `figure_dir`.

    Args:
        figure_dir: folder of the files, or None for none.
        summary_writers: TensorBoard `SummaryWriter`s (a TensorBoardLogger's `experiment`).
        step: global step the images are logged at.
        formats: file formats, "png" and/or "pdf" (vector graphics, for papers); a string or a
            sequence.
        dpi: resolution of the PNG files and of the TensorBoard images.
    """

    def __init__(
        self,
        figure_dir: str | Path | None,
        summary_writers=(),
        step: int = 0,
        formats: str | Sequence[str] = ("png",),
        dpi: float = DPI,
    ) -> None:
        self.figure_dir = Path(figure_dir) if figure_dir else None
        self.summary_writers = list(summary_writers)
        self.step = step
        self.formats = check_formats(formats)
        self.dpi = dpi

    @classmethod
    def for_trainer(
        cls,
        trainer,
        figure_dir: str | Path | None,
        formats: str | Sequence[str] = ("png",),
        dpi: float = DPI,
    ) -> FigureWriter:
        """Write to the trainer's TensorBoard loggers, and files to `figure_dir` (default:
        `<default_root_dir>/figures`)."""
        writers = [lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        figure_dir = figure_dir or Path(trainer.default_root_dir) / "figures"
        return cls(figure_dir, writers, trainer.global_step, formats=formats, dpi=dpi)

    def write(self, figures: Mapping[str, Figure]) -> list[Path]:
        """Write each figure as `<figure_dir>/<tag>.png` and as the TensorBoard image
        `visuals/<tag>` (`IMAGE_GROUP`); returns the files written."""
        paths = []
        for tag, fig in figures.items():
            png = render_png(fig, self.dpi)
            for writer in self.summary_writers:
                pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
                writer.add_image(f"{IMAGE_GROUP}/{tag}", pixels, self.step, dataformats="HWC")
            if self.figure_dir is not None:
                paths += save_figure(fig, self.figure_dir / tag, self.formats, self.dpi, png)
        for writer in self.summary_writers:
            writer.flush()
        return paths
