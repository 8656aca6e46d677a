"""Per-video predictions as people read them: the top classes with their scores."""

import csv

import numpy as np

from kerasrrn.evaluation.metrics import top_k_classes


def top_classes(probabilities, class_names, top_k):
    """`[{"class": name, "score": float}, ...]`, the `top_k` best first."""
    best = top_k_classes(probabilities[None], min(top_k, len(class_names)))[0]
    return [{"class": class_names[index], "score": float(probabilities[index])} for index in best]


def top_k_text(scores, class_names, k=5):
    """Each row's `k` best classes as "class:score;class:score;..." (best first).

    Args:
        scores: float array `(N, C)`.
        class_names: list of `C` str.

    Returns:
        list of `N` str.
    """
    best = top_k_classes(scores, min(k, len(class_names)))
    return [
        ";".join(f"{class_names[index]}:{row[index]:.6f}" for index in indices)
        for row, indices in zip(scores, best)
    ]


def write_predictions(path, video_ids, video_labels, video_scores, class_names):
    """Writes one CSV row per video: video, true, predicted, top5, correct."""
    predicted = np.argmax(video_scores, axis=1)
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["video", "true", "predicted", "top5", "correct"])
        for video_id, label, prediction, top5 in zip(
            video_ids, video_labels, predicted, top_k_text(video_scores, class_names)
        ):
            writer.writerow([
                video_id.decode() if isinstance(video_id, bytes) else video_id,
                class_names[label], class_names[prediction], top5, int(label == prediction),
            ])
    return path
