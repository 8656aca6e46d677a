"""Video-level evaluation: predict every test view, average the views of each video."""

import keras
import numpy as np

from kerasrrn.evaluation import metrics


def predict_views(model, dataset, verbose=1, num_views=None):
    """Runs `model` over an evaluation dataset of (views, labels, video ids).

    Args:
        model: keras.Model mapping clips `(B, T, S, S, 3)` to probabilities `(B, C)`.
        dataset: iterable of (float `(B, T, S, S, 3)`, int `(B,)`, bytes `(B,)`) batches,
            e.g. `pipelines.dataset.build_eval_dataset`.
        verbose: int, 1 shows a progress bar.
        num_views: int or None, the expected number of views (the progress bar's target).

    Returns:
        (video ids `(V,)`, labels `(V,)`, probabilities `(V, C)`) per view.
    """
    ids, labels, scores = [], [], []
    progress = keras.utils.Progbar(num_views, unit_name="view") if verbose else None
    for views, view_labels, view_ids in dataset:
        scores.append(np.asarray(model.predict_on_batch(views), dtype=np.float64))
        labels.append(np.asarray(view_labels))
        ids.append(np.asarray(view_ids))
        if progress:
            progress.add(len(view_ids))
    return np.concatenate(ids), np.concatenate(labels), np.concatenate(scores)


def video_report(view_ids, view_labels, view_scores, class_names):
    """The classification report of video-level scores (views averaged per video), with the
    clip-level top-1 added as `clip_top1`.

    Returns:
        (report dict, video ids `(N,)`, video labels `(N,)`, video scores `(N, C)`).
    """
    video_ids, video_scores = metrics.aggregate_clip_scores(view_ids, view_scores)
    first_view = {video_id: label for video_id, label in zip(view_ids[::-1], view_labels[::-1])}
    video_labels = np.array([first_view[video_id] for video_id in video_ids])
    report = metrics.classification_report(video_labels, video_scores, class_names)
    report["clip_top1"] = metrics.top_k_accuracy(view_labels, view_scores, 1)
    report["num_views"] = int(len(view_ids))
    return report, video_ids, video_labels, video_scores
