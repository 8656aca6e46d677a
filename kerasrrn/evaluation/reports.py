"""Report plots for a run directory: training curves, confusion matrix, per-class accuracy.

Figures are drawn on matplotlib's Agg canvas directly, without `pyplot`: nothing opens a
window, no global figure state is kept, and plotting works on headless machines.
"""

import csv
import json
import math
import pathlib

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kerasrrn.evaluation.metrics import as_confusion

# Above this many classes the confusion matrix has no per-cell numbers: they would not fit.
MAX_CLASSES_WITH_CELL_TEXT = 30
_DPI = 120
# The report of a run (or of an evaluation) in its folder.
METRICS_FILE = "metrics.json"


def new_figure(width, height):
    """Returns a `Figure` of `width` x `height` inches on an Agg canvas."""
    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, out_png):
    """Writes `figure` as a PNG to `out_png`, creating its folder; returns the path."""
    out_png = pathlib.Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_png, format="png")
    return out_png


def _tick_fontsize(num_classes):
    """Font size in points for class-name ticks: 9 for few classes, down to 5 for many."""
    return float(np.clip(10 - num_classes / 20, 5, 9))


def _check_class_names(class_names, num_classes):
    """Returns `class_names` as a list of strings, or raises unless there are `num_classes`."""
    class_names = [str(name) for name in class_names]
    if len(class_names) != num_classes:
        raise ValueError(
            f"`class_names` must hold one name per class ({num_classes}). "
            f"Received: {len(class_names)} names"
        )
    return class_names


def _parse_float(text):
    """Parses one CSVLogger cell; empty or non-numeric cells ("NA") become NaN."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def read_history_csv(history_csv_path):
    """Reads a Keras `CSVLogger` file into columns.

    Args:
        history_csv_path: path to the CSV file (header row, one row per epoch).

    Returns:
        dict `{column: float64 array (E,)}`; `epoch` is the row number when the file has none.
    """
    history_csv_path = pathlib.Path(history_csv_path)
    with history_csv_path.open(newline="") as csv_file:
        rows = list(csv.DictReader(csv_file))
    if not rows:
        raise ValueError(f"{history_csv_path}: no epochs recorded (expected a CSVLogger file).")
    columns = {name: np.array([_parse_float(row[name]) for row in rows]) for name in rows[0]}
    columns.setdefault("epoch", np.arange(len(rows), dtype=np.float64))
    return columns


def _plot_train_val(axes, history, metric, title):
    """Draws `metric` and `val_<metric>` against epoch on `axes`; notes when neither exists."""
    drawn = False
    for column, label in ((metric, "train"), (f"val_{metric}", "validation")):
        if column in history:
            axes.plot(history["epoch"], history[column], marker="o", markersize=3, label=label)
            drawn = True
    axes.set_title(title)
    axes.set_xlabel("epoch")
    axes.grid(alpha=0.3)
    if drawn:
        axes.legend()
    else:
        axes.text(0.5, 0.5, f"no `{metric}` column", ha="center", va="center",
                  transform=axes.transAxes)
    return drawn


def plot_training_curves(history_csv_path, out_png):
    """Plots loss and top-1 accuracy, train and validation, against epoch.

    Args:
        history_csv_path: Keras `CSVLogger` file with columns among `epoch, loss, top1,
            val_loss, val_top1` (others are ignored, any may be missing).
        out_png: path of the PNG to write.

    Returns:
        `pathlib.Path` of the written PNG.
    """
    history = read_history_csv(history_csv_path)
    figure = new_figure(11, 4)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    drew_loss = _plot_train_val(loss_axes, history, "loss", "loss")
    drew_accuracy = _plot_train_val(accuracy_axes, history, "top1", "top-1 accuracy")
    if not (drew_loss or drew_accuracy):
        raise ValueError(
            f"{history_csv_path}: no loss or top1 columns to plot. "
            f"Received columns: {sorted(history)}"
        )
    accuracy_axes.set_ylim(0, 1)
    return save_figure(figure, out_png)


def _row_normalize(confusion):
    """Divides each row of `(C, C)` counts by its sum; rows without samples stay zero."""
    support = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, support, out=np.zeros(confusion.shape), where=support > 0)


def _annotate_cells(axes, values, normalize, vmax):
    """Writes each cell's value on the matrix, white on dark cells and black on light ones."""
    threshold = vmax / 2
    for (row, column), value in np.ndenumerate(values):
        text = f"{value:.2f}" if normalize else f"{int(value)}"
        color = "white" if value > threshold else "black"
        axes.text(column, row, text, ha="center", va="center", fontsize=7, color=color)


def plot_confusion_matrix(confusion, class_names, out_png, normalize=True):
    """Plots a confusion matrix as an image, readable up to a hundred or more classes.

    The figure grows with the class count; class names shrink to 5 pt; cells carry their
    value only up to `MAX_CLASSES_WITH_CELL_TEXT` classes; a colour bar gives the scale.

    Args:
        confusion: int array `(C, C)`, rows are true classes.
        class_names: sequence of `C` names.
        out_png: path of the PNG to write.
        normalize: bool, default True. Divide each row by its class's sample count, so a
            cell is the fraction of that class predicted as the column's class.

    Returns:
        `pathlib.Path` of the written PNG.
    """
    confusion = as_confusion(confusion)
    num_classes = confusion.shape[0]
    class_names = _check_class_names(class_names, num_classes)
    values = _row_normalize(confusion) if normalize else confusion.astype(np.float64)
    # The colour scale ends at vmax; the cell text colour switches halfway along it.
    vmax = 1.0 if normalize else max(values.max(), 1.0)

    side = max(6.0, 3.0 + 0.17 * num_classes)
    figure = new_figure(side + 1.5, side)
    axes = figure.subplots()
    image = axes.imshow(values, cmap="Blues", vmin=0, vmax=vmax)
    figure.colorbar(image, ax=axes, shrink=0.8,
                    label="fraction of true class" if normalize else "samples")
    ticks = np.arange(num_classes)
    fontsize = _tick_fontsize(num_classes)
    axes.set_xticks(ticks, class_names, rotation=90, fontsize=fontsize)
    axes.set_yticks(ticks, class_names, fontsize=fontsize)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title("confusion matrix" + (" (row-normalised)" if normalize else ""))
    if num_classes <= MAX_CLASSES_WITH_CELL_TEXT:
        _annotate_cells(axes, values, normalize, vmax)
    return save_figure(figure, out_png)


def plot_per_class_accuracy(per_class_accuracy, class_names, out_png):
    """Plots per-class accuracy as horizontal bars, best class at the top.

    Classes without samples (NaN accuracy) are left out and counted in the title. A dashed
    line marks the mean class accuracy.

    Args:
        per_class_accuracy: float array `(C,)`, NaN for classes with no samples.
        class_names: sequence of `C` names.
        out_png: path of the PNG to write.

    Returns:
        `pathlib.Path` of the written PNG.
    """
    accuracy = np.asarray(per_class_accuracy, dtype=np.float64)
    if accuracy.ndim != 1:
        raise ValueError(
            "`per_class_accuracy` must be a 1-D array (C,). "
            f"Received: per_class_accuracy.shape={accuracy.shape}"
        )
    class_names = _check_class_names(class_names, accuracy.shape[0])
    has_samples = ~np.isnan(accuracy)
    if not has_samples.any():
        raise ValueError("`per_class_accuracy` is NaN for every class: no class has samples.")
    shown = np.flatnonzero(has_samples)
    # barh draws the first bar at the bottom, so ascending order puts the best class on top.
    shown = shown[np.argsort(accuracy[shown], kind="stable")]

    figure = new_figure(8, max(3.0, 1.5 + 0.16 * shown.size))
    axes = figure.subplots()
    positions = np.arange(shown.size)
    axes.barh(positions, accuracy[shown], color="tab:blue")
    axes.set_yticks(positions, [class_names[index] for index in shown],
                    fontsize=_tick_fontsize(shown.size))
    axes.set_ylim(-0.6, shown.size - 0.4)
    axes.set_xlim(0, 1)
    mean_accuracy = float(accuracy[shown].mean())
    axes.axvline(mean_accuracy, color="tab:red", linestyle="--",
                 label=f"mean class accuracy {mean_accuracy:.3f}")
    axes.legend(loc="lower right")
    axes.set_xlabel("accuracy")
    axes.grid(axis="x", alpha=0.3)
    missing = accuracy.shape[0] - shown.size
    axes.set_title("per-class accuracy"
                   + (f" ({missing} classes without samples not shown)" if missing else ""))
    return save_figure(figure, out_png)


def write_report(report_dict, out_dir, prefix=""):
    """Writes a `classification_report` dict as JSON and its confusion and per-class plots.

    Args:
        report_dict: dict returned by `kerasrrn.evaluation.metrics.classification_report`.
        out_dir: folder to write into, created if missing.
        prefix: str, default "". Put before each file name, e.g. "test_".

    Returns:
        list of `pathlib.Path`: `<prefix>metrics.json`, `<prefix>confusion_matrix.png`,
        `<prefix>per_class_accuracy.png`.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    class_names = list(report_dict["per_class"])
    accuracy = [
        math.nan if entry["accuracy"] is None else entry["accuracy"]
        for entry in report_dict["per_class"].values()
    ]
    metrics_path = out_dir / f"{prefix}{METRICS_FILE}"
    # allow_nan=False: the file must stay valid JSON for tools other than Python's json.
    metrics_path.write_text(json.dumps(report_dict, indent=2, allow_nan=False) + "\n")
    return [
        metrics_path,
        plot_confusion_matrix(report_dict["confusion_matrix"], class_names,
                              out_dir / f"{prefix}confusion_matrix.png"),
        plot_per_class_accuracy(accuracy, class_names, out_dir / f"{prefix}per_class_accuracy.png"),
    ]
