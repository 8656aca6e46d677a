"""Tests for kerasrrn.evaluation.reports: files are written, are PNGs, and scale with the class count."""

import json
import struct

import numpy as np
import pytest

from kerasrrn.evaluation import metrics, reports

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """Returns (width, height) in pixels from the IHDR chunk, after checking the signature."""
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert header[12:16] == b"IHDR"
    return struct.unpack(">II", header[16:24])


def class_names(num_classes):
    return [f"ClassWithALongName{index:03d}" for index in range(num_classes)]


def random_confusion(num_classes, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 5, (num_classes, num_classes)) + 20 * np.eye(num_classes, dtype=int)


def write_csv(path, text):
    path.write_text(text)
    return path


def test_training_curves_full_history(tmp_path):
    history = write_csv(tmp_path / "history.csv", (
        "epoch,loss,top1,top5,val_loss,val_top1,val_top5\n"
        "0,2.0,0.3,0.6,2.2,0.25,0.5\n"
        "1,1.5,0.5,0.8,1.9,0.4,0.7\n"
        "2,1.1,0.7,0.9,1.8,0.45,0.75\n"
    ))
    out_png = reports.plot_training_curves(history, tmp_path / "plots" / "curves.png")
    assert out_png == tmp_path / "plots" / "curves.png"
    png_size(out_png)


def test_training_curves_without_validation_or_epoch_columns(tmp_path):
    # No val_* columns, no epoch column, and a CSVLogger "NA" cell.
    history = write_csv(tmp_path / "history.csv", "loss,top1\n2.0,0.3\n1.5,NA\n")
    png_size(reports.plot_training_curves(history, tmp_path / "curves.png"))


def test_training_curves_errors_name_the_file(tmp_path):
    empty = write_csv(tmp_path / "empty.csv", "epoch,loss\n")
    with pytest.raises(ValueError, match="empty.csv: no epochs"):
        reports.plot_training_curves(empty, tmp_path / "curves.png")
    unrelated = write_csv(tmp_path / "lr.csv", "epoch,learning_rate\n0,0.1\n")
    with pytest.raises(ValueError, match="lr.csv: no loss or top1"):
        reports.plot_training_curves(unrelated, tmp_path / "curves.png")


def test_confusion_matrix_image_grows_with_class_count(tmp_path):
    small = reports.plot_confusion_matrix(random_confusion(5), class_names(5), tmp_path / "5.png")
    large = reports.plot_confusion_matrix(random_confusion(101), class_names(101),
                                          tmp_path / "101.png")
    small_width, small_height = png_size(small)
    large_width, large_height = png_size(large)
    assert large_width > small_width and large_height > small_height


def test_confusion_matrix_counts_and_empty_rows(tmp_path):
    # An all-zero row (class without samples) must not divide by zero when normalising.
    confusion = [[3, 1, 0], [0, 0, 0], [0, 2, 2]]
    for normalize in (True, False):
        png_size(reports.plot_confusion_matrix(confusion, ["a", "b", "c"],
                                               tmp_path / f"{normalize}.png", normalize))


def test_per_class_accuracy_skips_classes_without_samples(tmp_path):
    accuracy = np.array([0.5, np.nan, 1.0, 0.0])
    png_size(reports.plot_per_class_accuracy(accuracy, list("abcd"), tmp_path / "per_class.png"))
    with pytest.raises(ValueError, match="every class"):
        reports.plot_per_class_accuracy([np.nan], ["a"], tmp_path / "none.png")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda path: reports.plot_confusion_matrix(np.ones((2, 3)), "ab", path),
         "confusion.shape=(2, 3)"),
        (lambda path: reports.plot_confusion_matrix(np.ones((2, 2)), "abc", path),
         "Received: 3 names"),
        (lambda path: reports.plot_per_class_accuracy(np.ones((2, 2)), "ab", path),
         "per_class_accuracy.shape=(2, 2)"),
    ],
)
def test_plot_errors_name_what_was_received(tmp_path, call, message):
    with pytest.raises(ValueError) as error:
        call(tmp_path / "out.png")
    assert message in str(error.value)


def test_write_report_writes_json_and_plots(tmp_path):
    # Class "c" has no samples, so its accuracy is null in the JSON.
    report = metrics.classification_report(
        [0, 1, 1], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]], ["a", "b", "c"]
    )
    paths = reports.write_report(report, tmp_path / "run", prefix="test_")
    assert [path.name for path in paths] == [
        "test_metrics.json", "test_confusion_matrix.png", "test_per_class_accuracy.png"
    ]
    assert json.loads(paths[0].read_text()) == report
    for path in paths[1:]:
        png_size(path)
