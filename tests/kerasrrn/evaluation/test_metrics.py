"""Tests for kerasrrn.evaluation.metrics against small cases computed by hand."""

import json

import numpy as np
import pytest

from kerasrrn.evaluation import metrics
from kerasrrn.training.compile import training_metrics

# Three samples, four classes; ties rank by lower class index.
#   sample 0: label 2; classes 1 and 2 tie at 0.5 -> ranking 1, 2, 0, 3: wrong at k=1, right at k=2
#   sample 1: label 0; classes 0, 1, 2 tie at 0.3 -> ranking 0, 1, 2, 3: right at every k
#   sample 2: label 0; ranking 3, 2, 1, 0: right only at k=4
TIE_LABELS = np.array([2, 0, 0])
TIE_SCORES = np.array([
    [0.2, 0.5, 0.5, 0.1],
    [0.3, 0.3, 0.3, 0.1],
    [0.1, 0.2, 0.3, 0.4],
])


def test_top_k_classes_breaks_ties_by_lower_class_index():
    expected = [[1, 2, 0, 3], [0, 1, 2, 3], [3, 2, 1, 0]]
    np.testing.assert_array_equal(metrics.top_k_classes(TIE_SCORES, k=4), expected)


@pytest.mark.parametrize("k, expected", [(1, 1 / 3), (2, 2 / 3), (3, 2 / 3), (4, 1.0)])
def test_top_k_accuracy_with_ties(k, expected):
    assert metrics.top_k_accuracy(TIE_LABELS, TIE_SCORES, k) == pytest.approx(expected)


def test_top1_agrees_with_confusion_matrix_prediction_on_ties():
    # Predictions by the tie rule: 1, 0, 3 -> only sample 1 (label 0) is on the diagonal.
    confusion = metrics.confusion_matrix(TIE_LABELS, np.argmax(TIE_SCORES, axis=1), 4)
    assert np.trace(confusion) / confusion.sum() == metrics.top_k_accuracy(
        TIE_LABELS, TIE_SCORES, k=1
    )


def test_confusion_matrix_rows_are_true_classes_and_empty_class_is_nan():
    # labels 0,0,1,1 predicted 0,2,1,1: class 0 -> one right, one as class 2; class 1 -> both
    # right; class 2 has no samples (its column is not empty, its row is).
    confusion = metrics.confusion_matrix([0, 0, 1, 1], [0, 2, 1, 1], num_classes=3)
    np.testing.assert_array_equal(confusion, [[1, 0, 1], [0, 2, 0], [0, 0, 0]])
    assert confusion.dtype == np.int64

    accuracy = metrics.per_class_accuracy(confusion)
    np.testing.assert_array_equal(accuracy[:2], [0.5, 1.0])
    assert np.isnan(accuracy[2])
    # Mean over the two classes with samples: (0.5 + 1.0) / 2.
    assert metrics.mean_class_accuracy(confusion) == pytest.approx(0.75)


def test_mean_class_accuracy_differs_from_top1_when_imbalanced():
    # 8 samples of "common", 2 of "rare"; every sample predicted "common" (0.9 vs 0.1).
    # top1 = 8/10 = 0.8; per class: common 8/8 = 1.0, rare 0/2 = 0.0 -> mean 0.5.
    # Two classes, so "top5" is top-2 = 1.0.
    labels = np.array([0] * 8 + [1] * 2)
    scores = np.tile([0.9, 0.1], (10, 1))
    report = metrics.classification_report(labels, scores, ["common", "rare"])
    assert report == {
        "num_samples": 10,
        "top1": pytest.approx(0.8),
        "top5": 1.0,
        "mean_class_accuracy": pytest.approx(0.5),
        "per_class": {
            "common": {"accuracy": 1.0, "support": 8},
            "rare": {"accuracy": 0.0, "support": 2},
        },
        "confusion_matrix": [[8, 0], [2, 0]],
    }


def test_classification_report_is_strict_json_with_empty_class():
    # Class "c" has no samples: accuracy null (not NaN, which strict JSON does not allow).
    report = metrics.classification_report([0, 1], [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]],
                                           ["a", "b", "c"])
    assert report["per_class"]["c"] == {"accuracy": None, "support": 0}
    assert json.loads(json.dumps(report, allow_nan=False)) == report


def test_aggregate_clip_scores_average_flips_prediction():
    # Video "b" has two clips: [0.6, 0.4] alone predicts class 0, [0.1, 0.9] predicts 1;
    # the mean [(0.6 + 0.1) / 2, (0.4 + 0.9) / 2] = [0.35, 0.65] predicts class 1.
    # Video "a" has one clip. Ids keep their first-appearance order: "b" before "a".
    video_ids = np.array(["b", "a", "b"])
    clip_scores = np.array([[0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    unique_ids, video_scores = metrics.aggregate_clip_scores(video_ids, clip_scores)
    np.testing.assert_array_equal(unique_ids, ["b", "a"])
    np.testing.assert_allclose(video_scores, [[0.35, 0.65], [0.3, 0.7]])
    assert np.argmax(clip_scores[0]) == 0 and np.argmax(video_scores[0]) == 1


def test_aggregate_clip_scores_integer_ids_keep_first_appearance_order():
    # Id 7 appears first, id 3 second (sorted order would put 3 first).
    unique_ids, video_scores = metrics.aggregate_clip_scores(
        [7, 3, 7, 3], [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.5, 0.5]]
    )
    np.testing.assert_array_equal(unique_ids, [7, 3])
    np.testing.assert_allclose(video_scores, [[0.5, 0.5], [0.25, 0.75]])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: metrics.top_k_accuracy([[0, 1]], np.ones((2, 3)), 1), "labels.shape=(1, 2)"),
        (lambda: metrics.top_k_accuracy([0, 1], np.ones(3), 1), "scores.shape=(3,)"),
        (lambda: metrics.top_k_accuracy([0, 1], np.ones((3, 3)), 1),
         "labels.shape=(2,), scores.shape=(3, 3)"),
        (lambda: metrics.top_k_accuracy([0, 1], np.ones((2, 3)), 4), "k=4"),
        (lambda: metrics.top_k_accuracy([0, 3], np.ones((2, 3)), 1), "max=3"),
        (lambda: metrics.top_k_accuracy([0.0, 1.0], np.ones((2, 3)), 1), "labels.dtype=float64"),
        (lambda: metrics.confusion_matrix([0, 1], [0], 2),
         "labels.shape=(2,), predictions.shape=(1,)"),
        (lambda: metrics.confusion_matrix([0, 1], [0, -1], 2), "min=-1"),
        (lambda: metrics.per_class_accuracy(np.zeros((2, 3))), "confusion.shape=(2, 3)"),
        (lambda: metrics.mean_class_accuracy(np.zeros((2, 2))), "no samples"),
        (lambda: metrics.aggregate_clip_scores(["a"], np.ones((2, 3))),
         "video_ids.shape=(1,), clip_scores.shape=(2, 3)"),
        (lambda: metrics.classification_report([0], np.ones((1, 2)), ["a"]), "Received: 1 names"),
        (lambda: training_metrics(0), "num_classes=0"),
    ],
)
def test_errors_name_what_was_received(call, message):
    with pytest.raises(ValueError, match="Received|no samples") as error:
        call()
    assert message in str(error.value)


def test_training_metrics_names_and_k():
    # Three classes: "top5" can only be top-3.
    top1, top5 = training_metrics(num_classes=3)
    assert (top1.name, top5.name) == ("top1", "top5")
    assert top5.get_config()["k"] == 3
    assert training_metrics(num_classes=101)[1].get_config()["k"] == 5


def test_training_metrics_name_the_history_columns():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=training_metrics(num_classes=6))
    features, labels = np.ones((4, 4), "float32"), np.arange(4)
    history = model.fit(features, labels, validation_data=(features, labels), epochs=1,
                        verbose=0)
    assert {"top1", "top5", "val_top1", "val_top5"} <= set(history.history)
