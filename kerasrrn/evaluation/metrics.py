"""Evaluation metrics: top-k, confusion matrix, mean class accuracy, multi-clip aggregation.

The evaluation functions use numpy only, so they run on saved scores without TensorFlow.
`training_metrics` returns the Keras metrics passed to `model.compile`.

Tie rule: wherever classes are ranked, a higher score ranks first and equal scores rank by
class index, lower first. `np.argmax` follows the same rule, so the top-1 prediction of
`top_k_accuracy(k=1)` and the prediction counted in the confusion matrix always agree.
"""

import numpy as np


def _as_labels(labels, name="labels"):
    """Returns `labels` as an int64 array of shape `(N,)`, or raises `ValueError`."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(
            f"`{name}` must be a 1-D array of class indices (N,). "
            f"Received: {name}.shape={labels.shape}"
        )
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"`{name}` must hold integer class indices. Received: {name}.dtype={labels.dtype}"
        )
    return labels.astype(np.int64)


def _check_range(labels, num_classes, name="labels"):
    """Raises `ValueError` unless every entry of `labels` lies in `[0, num_classes)`."""
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"`{name}` must lie in [0, {num_classes}) for {num_classes} classes. "
            f"Received: min={labels.min()}, max={labels.max()}"
        )


def _as_labels_and_scores(labels, scores):
    """Validates a `(N,)` label array against `(N, C)` scores; returns both as arrays."""
    labels = _as_labels(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(
            f"`scores` must be a 2-D array (N, C). Received: scores.shape={scores.shape}"
        )
    if scores.shape[0] != labels.shape[0]:
        raise ValueError(
            "`labels` and `scores` must have the same number of samples N. "
            f"Received: labels.shape={labels.shape}, scores.shape={scores.shape}"
        )
    if labels.size == 0:
        raise ValueError("`labels` and `scores` are empty: there is nothing to evaluate.")
    _check_range(labels, scores.shape[1])
    return labels, scores


def top_k_classes(scores, k):
    """Returns the `k` best classes per sample, best first, ties broken by lower class index.

    Args:
        scores: float array `(N, C)`.
        k: int in `[1, C]`.

    Returns:
        int64 array `(N, k)`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(
            f"`scores` must be a 2-D array (N, C). Received: scores.shape={scores.shape}"
        )
    num_classes = scores.shape[1]
    if not 1 <= k <= num_classes:
        raise ValueError(
            f"`k` must be in [1, {num_classes}] for {num_classes} classes. Received: k={k}"
        )
    # A stable sort of the negated scores keeps equal scores in class-index order.
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def top_k_accuracy(labels, scores, k):
    """Fraction of samples whose true class is among the `k` highest scores.

    Ties follow the module's rule (equal scores rank by lower class index), so exactly `k`
    classes count as predicted for every sample.

    Args:
        labels: int array `(N,)`, true class indices.
        scores: float array `(N, C)`, class scores or probabilities.
        k: int in `[1, C]`.

    Returns:
        Python float in `[0, 1]`.

    Example:
    >>> top_k_accuracy([0, 1], [[0.9, 0.1], [0.8, 0.2]], k=1)
    0.5
    """
    labels, scores = _as_labels_and_scores(labels, scores)
    hits = (top_k_classes(scores, k) == labels[:, None]).any(axis=1)
    return float(hits.mean())


def confusion_matrix(labels, predictions, num_classes):
    """Counts (true class, predicted class) pairs.

    Args:
        labels: int array `(N,)`, true class indices in `[0, num_classes)`.
        predictions: int array `(N,)`, predicted class indices in `[0, num_classes)`.
        num_classes: int `C >= 1`.

    Returns:
        int64 array `(C, C)`; entry `[i, j]` counts samples of true class `i` predicted as `j`.
    """
    if num_classes < 1:
        raise ValueError(f"`num_classes` must be >= 1. Received: num_classes={num_classes}")
    labels = _as_labels(labels)
    predictions = _as_labels(predictions, name="predictions")
    if labels.shape != predictions.shape:
        raise ValueError(
            "`labels` and `predictions` must have the same shape (N,). "
            f"Received: labels.shape={labels.shape}, predictions.shape={predictions.shape}"
        )
    _check_range(labels, num_classes)
    _check_range(predictions, num_classes, name="predictions")
    pair_index = labels * num_classes + predictions
    counts = np.bincount(pair_index, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def as_confusion(confusion):
    """Returns `confusion` as an array, or raises `ValueError` unless it is square `(C, C)`."""
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(
            f"`confusion` must be a square matrix (C, C). Received: confusion.shape={confusion.shape}"
        )
    return confusion


def per_class_accuracy(confusion):
    """Recall of each class: correct predictions over the samples of that class.

    Args:
        confusion: int array `(C, C)`, rows are true classes (as `confusion_matrix` returns).

    Returns:
        float64 array `(C,)`. A class with no samples (an all-zero row) has no accuracy: its
        entry is NaN, so that it can be told apart from a class that is always wrong (0.0).
    """
    confusion = as_confusion(confusion)
    support = confusion.sum(axis=1)
    correct = np.diag(confusion).astype(np.float64)
    accuracy = np.full(confusion.shape[0], np.nan)
    has_samples = support > 0
    accuracy[has_samples] = correct[has_samples] / support[has_samples]
    return accuracy


def mean_class_accuracy(confusion):
    """Mean of the per-class accuracies over the classes that have samples.

    Unlike top-1 accuracy, every class weighs the same whatever its number of samples.

    Args:
        confusion: int array `(C, C)`, rows are true classes.

    Returns:
        Python float in `[0, 1]`.
    """
    accuracy = per_class_accuracy(confusion)
    if np.isnan(accuracy).all():
        raise ValueError("`confusion` holds no samples: mean class accuracy is undefined.")
    return float(np.nanmean(accuracy))


def aggregate_clip_scores(video_ids, clip_scores):
    """Averages the scores of the clips of each video (multi-clip testing).

    Args:
        video_ids: array `(N,)` of video identifiers (str or int), one per clip.
        clip_scores: float array `(N, C)`, per-clip softmax probabilities.

    Returns:
        `(unique_video_ids, video_scores)`: the distinct ids `(V,)` in order of first
        appearance, and float64 array `(V, C)` with the mean clip score of each video.
    """
    video_ids = np.asarray(video_ids)
    clip_scores = np.asarray(clip_scores, dtype=np.float64)
    if video_ids.ndim != 1 or clip_scores.ndim != 2 or video_ids.shape[0] != clip_scores.shape[0]:
        raise ValueError(
            "`video_ids` must be (N,) and `clip_scores` (N, C) with the same N. "
            f"Received: video_ids.shape={video_ids.shape}, clip_scores.shape={clip_scores.shape}"
        )
    _, first_index, clip_to_sorted = np.unique(video_ids, return_index=True, return_inverse=True)
    # np.unique sorts the ids; re-rank them by where each first appears.
    appearance_order = np.argsort(first_index, kind="stable")
    sorted_to_video = np.empty_like(appearance_order)
    sorted_to_video[appearance_order] = np.arange(appearance_order.size)
    clip_to_video = sorted_to_video[clip_to_sorted.reshape(-1)]

    num_videos = appearance_order.size
    score_sums = np.zeros((num_videos, clip_scores.shape[1]))
    np.add.at(score_sums, clip_to_video, clip_scores)
    clip_counts = np.bincount(clip_to_video, minlength=num_videos)
    unique_video_ids = video_ids[first_index[appearance_order]]
    return unique_video_ids, score_sums / clip_counts[:, None]


def classification_report(labels, scores, class_names):
    """Summarises predictions as a plain, JSON-serialisable dict.

    The prediction is the arg-max of `scores` (ties: lower class index). A class with no
    samples has `accuracy: None` (JSON `null`) and `support: 0`.

    Args:
        labels: int array `(N,)`, true class indices.
        scores: float array `(N, C)`, class scores or probabilities.
        class_names: sequence of `C` distinct strings.

    Returns:
        dict with `num_samples` (int), `top1`, `top5` (top-min(5, C)) and `mean_class_accuracy`
        (floats), `per_class` (`{name: {"accuracy": float | None, "support": int}}`, in class
        order) and `confusion_matrix` (`C` lists of `C` ints, rows are true classes).
    """
    labels, scores = _as_labels_and_scores(labels, scores)
    class_names = [str(name) for name in class_names]
    num_classes = scores.shape[1]
    if len(class_names) != num_classes or len(set(class_names)) != num_classes:
        raise ValueError(
            f"`class_names` must hold {num_classes} distinct names, one per score column. "
            f"Received: {len(class_names)} names, {len(set(class_names))} distinct"
        )
    confusion = confusion_matrix(labels, np.argmax(scores, axis=1), num_classes)
    accuracy = per_class_accuracy(confusion)
    support = confusion.sum(axis=1)
    per_class = {
        name: {
            "accuracy": None if np.isnan(class_accuracy) else float(class_accuracy),
            "support": int(class_support),
        }
        for name, class_accuracy, class_support in zip(class_names, accuracy, support)
    }
    return {
        "num_samples": int(labels.shape[0]),
        "top1": top_k_accuracy(labels, scores, k=1),
        "top5": top_k_accuracy(labels, scores, k=min(5, num_classes)),
        "mean_class_accuracy": mean_class_accuracy(confusion),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
    }
