"""Where the network is wrong: the confusion matrix and its most frequent confusions, as images."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure
from torch import nn
from torchmetrics.classification import MulticlassConfusionMatrix
from torchmetrics.functional.classification import multiclass_confusion_matrix

from mlp_vs_cnn.data import ImageDataModule
from mlp_vs_cnn.visualize.figures import (
    describe_run,
    grid_figure,
    new_figure,
    readable,
    suptitle,
)


@torch.no_grad()
def predict(
    model: nn.Module, datamodule: ImageDataModule, split: str = "test"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes and labels of a whole split, on CPU."""
    datamodule.setup()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    num_samples = len(datamodule.splits[split][1])
    preds, labels = [], []
    for start in range(0, num_samples, datamodule.eval_batch_size):
        index = torch.arange(start, min(start + datamodule.eval_batch_size, num_samples))
        x, y = datamodule.model_inputs(split, index)
        preds.append(model(x.to(device)).argmax(1).cpu())
        labels.append(y)
    model.train(was_training)
    return torch.cat(preds), torch.cat(labels)


def confusion_matrix_figure(
    confusion: torch.Tensor, class_names: list[str], title: str, context: str = ""
) -> Figure:
    """The confusion matrix (rows: true class, columns: predicted class) with counts."""
    num_classes = len(class_names)
    fig = new_figure(3 + 0.55 * num_classes, 2.6 + 0.5 * num_classes)
    suptitle(fig, title, context)
    ax = fig.add_subplot()
    MulticlassConfusionMatrix(num_classes).plot(confusion, ax=ax, labels=class_names, cmap="Blues")
    for text in ax.texts:
        text.set_fontsize(8)
    ax.set_xlabel("predicted class", fontsize=9)
    ax.set_ylabel("true class", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.tick_params(axis="y", labelrotation=0)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    bar = fig.colorbar(ax.images[0], ax=ax, shrink=0.8, pad=0.02)
    bar.set_label("test images" if "test" in title else "images", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    return fig


def top_confusions(confusion: torch.Tensor, count: int) -> list[tuple[int, int, int]]:
    """The `count` most frequent (true, predicted, number) pairs off the diagonal."""
    off_diagonal = confusion.clone()
    off_diagonal.fill_diagonal_(0)
    numbers, flat = off_diagonal.flatten().sort(descending=True)
    size = confusion.shape[0]
    return [
        (int(i) // size, int(i) % size, int(n))
        for n, i in zip(numbers[:count], flat[:count], strict=True)
        if n > 0
    ]


def error_figures(
    model: nn.Module,
    datamodule: ImageDataModule,
    split: str = "test",
    top_pairs: int = 8,
    per_pair: int = 8,
    context: str | None = None,
) -> dict[str, Figure]:
    """Figures `errors/confusion_matrix` and `errors/misclassified` for one split. Their titles
    name the run: `context`, or else `describe_run(model, datamodule)`."""
    preds, labels = predict(model, datamodule, split)
    num_classes, names = datamodule.num_classes, datamodule.class_names
    context = context or describe_run(model, datamodule)
    confusion = multiclass_confusion_matrix(preds, labels, num_classes)
    accuracy = (preds == labels).float().mean().item()
    figures = {
        "errors/confusion_matrix": confusion_matrix_figure(
            confusion,
            names,
            f"Confusion matrix, {split} set ({accuracy:.2%} of {len(labels):,} correct)",
            context,
        )
    }
    pairs = top_confusions(confusion, top_pairs)
    if not pairs:
        return figures
    rows, row_labels = [], []
    for true, pred, number in pairs:
        index = torch.nonzero((labels == true) & (preds == pred)).flatten()[:per_pair]
        x, _ = datamodule.model_inputs(split, index)
        row = torch.full((per_pair, *x.shape[1:]), torch.nan)
        row[: len(index)] = readable(x.cpu(), datamodule.permutation)
        rows.append(row)
        row_labels.append(f"{names[true]} as {names[pred]} ({number})")
    shown = (
        "un-permuted for reading" if datamodule.permutation is not None else "as the model saw them"
    )
    figures["errors/misclassified"] = grid_figure(
        torch.cat(rows),
        per_pair,
        f"Most frequent confusions, {split} set: true as predicted (count), {shown}",
        row_labels=row_labels,
        context=context,
        colorbar="model input (normalised)" if datamodule.hparams.normalize else "model input",
    )
    return figures
