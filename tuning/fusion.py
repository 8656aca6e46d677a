"""Searching the MRRN fusion weights on cached validation scores, without retraining.

The fused video scores are `p = sum_i w_i * p_i` with `w` on the simplex. Each stream's
video-level softmax scores on the validation split are computed once and cached as `.npy`; a trial
only weighs the cached arrays in numpy, so hundreds of trials need no model.

Simplex parameterisation (stick breaking): hyperparameters `share1 .. share{S-1}`, Floats in
[0, 1]; stream i takes `share_i` of the weight the streams before it left over, the last stream
takes the rest. Every weight vector has exactly one parameter point (3 raw Floats normalised by
their sum would have a redundant scale), and the vertices of the simplex (one stream alone) lie on
the bounds of the box, where the Bayesian optimiser's search often ends up.

Objective `score` (max): top-1 of the fused video scores plus
`exp(mean log-likelihood of the true class) / (videos + 1)`. The second term is below the smallest
top-1 step `1 / videos`, so trials rank by top-1 first and equal top-1 goes to the weights that
are more confident in the true class.
"""

import hashlib
import os
import pathlib

import keras_tuner
import numpy as np

from kerasrrn.config import ConfigError
from kerasrrn.evaluation import views
from kerasrrn.evaluation.metrics import top_k_accuracy
from kerasrrn.runs.layout import RunLayout
from kerasrrn.runs.fusion import check_stream
from kerasrrn.runs.loading import TrainedRun

# Fused probabilities are clipped here before the log, so a zero keeps the log-likelihood finite.
MIN_PROBABILITY = 1e-12


def share_names(num_streams):
    """Hyperparameter names of the stick-breaking shares: `share1 .. share{S-1}`."""
    return [f"share{index}" for index in range(1, num_streams)]


def fusion_space(num_streams):
    """A `keras_tuner.HyperParameters` holding the shares, defaults giving equal weights."""
    hp = keras_tuner.HyperParameters()
    for index, name in enumerate(share_names(num_streams)):
        hp.Float(name, 0.0, 1.0, default=1.0 / (num_streams - index))
    return hp


def stick_breaking_weights(shares):
    """Maps `S - 1` shares in [0, 1] to `S` weights on the simplex.

    Example: shares (1/3, 1/2) -> weights (1/3, 1/3, 1/3); (1, x) -> (1, 0, 0).

    Returns:
        float64 array `(S,)`, non-negative, summing to 1.
    """
    weights, left = [], 1.0
    for share in shares:
        weights.append(left * share)
        left -= left * share
    return np.array(weights + [left])


def fused_scores(stream_scores, weights):
    """`sum_i weights[i] * stream_scores[i]`: `(S, V, C)` and `(S,)` -> `(V, C)`."""
    return np.tensordot(np.asarray(weights, dtype=np.float64), stream_scores, axes=1)


def fusion_metrics(stream_scores, labels, weights):
    """Scores one weighting of the streams.

    Args:
        stream_scores: float array `(S, V, C)`, video-level probabilities per stream.
        labels: int array `(V,)`.
        weights: float array `(S,)` on the simplex.

    Returns:
        dict with `top1`, `mean_log_likelihood` (of the true class) and `score` (the search
        objective: top-1, ties broken by likelihood; see the module docstring).
    """
    scores = fused_scores(stream_scores, weights)
    true_class = np.clip(scores[np.arange(len(labels)), labels], MIN_PROBABILITY, None)
    mean_log_likelihood = float(np.mean(np.log(true_class)))
    top1 = top_k_accuracy(labels, scores, 1)
    return {
        "top1": top1,
        "mean_log_likelihood": mean_log_likelihood,
        "score": top1 + float(np.exp(mean_log_likelihood)) / (len(labels) + 1),
    }


class FusionTuner(keras_tuner.Tuner):
    """A Tuner whose trials weigh cached stream scores in numpy (no model is built).

    Args:
        oracle: a `keras_tuner.Oracle` over `fusion_space(S)` with objective `score` (max).
        stream_scores: float array `(S, V, C)`; labels: int array `(V,)`.
        **kwargs: `directory`, `project_name`, `overwrite` as `keras_tuner.Tuner`.
    """

    def __init__(self, oracle, stream_scores, labels, **kwargs):
        super().__init__(oracle, **kwargs)
        self.stream_scores = stream_scores
        self.labels = labels
        self.trials_run = 0

    def run_trial(self, trial, *args, **kwargs):
        self.trials_run += 1
        weights = trial_weights(trial.hyperparameters, len(self.stream_scores))
        return fusion_metrics(self.stream_scores, self.labels, weights)


def trial_weights(hp, num_streams):
    """The weights `(S,)` of `num_streams` streams at a trial's hyperparameters."""
    return stick_breaking_weights([hp.get(name) for name in share_names(num_streams)])


def fusion_objective():
    return keras_tuner.Objective("score", direction="max")


def cache_key(run_dir):
    """8 hex digits that change when the run's location or its best checkpoint changes."""
    run_dir = pathlib.Path(run_dir).resolve()
    checkpoint = RunLayout(run_dir).best_checkpoint.stat()
    content = f"{run_dir}|{checkpoint.st_mtime_ns}|{checkpoint.st_size}"
    return hashlib.sha256(content.encode()).hexdigest()[:8]


def predict_stream(run_dir, verbose=0):
    """Video-level validation scores of a run's best checkpoint (all test clips per video;
    `last.keras`, with one warning, where `best.keras` is unreadable).

    Returns:
        (video ids `(V,)` str, labels `(V,)` int64, scores `(V, C)` float64).
    """
    run = TrainedRun.open(run_dir)
    data = run.validation_data()
    model = run.load_model()
    predicted = data.predict_views(model, data.val_split, run.config.train.batch_size, verbose)
    _, video_ids, labels, scores = views.video_report(*predicted, data.class_names)
    video_ids = np.array([item.decode() if isinstance(item, bytes) else str(item) for item in video_ids])
    return video_ids, labels.astype(np.int64), scores


CACHED_ARRAYS = ("video_ids", "labels", "scores")


def cached_stream_scores(run_dir, cache_root, verbose=0):
    """`predict_stream` once per run and checkpoint, cached as `.npy` under `cache_root`.

    The cache folder is `<cache_root>/<run name>-<cache_key>/` with `video_ids.npy`,
    `labels.npy` and `scores.npy`. Each file is written under a temporary name and renamed, so
    processes that compute the same stream at once (distributed workers) never read half a file.
    """
    check_stream(run_dir)
    folder = pathlib.Path(cache_root) / f"{pathlib.Path(run_dir).resolve().name}-{cache_key(run_dir)}"
    paths = {name: folder / f"{name}.npy" for name in CACHED_ARRAYS}
    if not all(path.is_file() for path in paths.values()):
        folder.mkdir(parents=True, exist_ok=True)
        for name, array in zip(CACHED_ARRAYS, predict_stream(run_dir, verbose)):
            partial = folder / f"{name}.{os.getpid()}.partial.npy"
            np.save(partial, array)
            os.replace(partial, paths[name])
    return tuple(np.load(paths[name]) for name in CACHED_ARRAYS)


def align_streams(streams):
    """Puts the streams' videos in one order.

    Args:
        streams: list of (run_dir, (video ids `(V,)`, labels `(V,)`, scores `(V, C)`)).

    Returns:
        (video ids `(V,)`, labels `(V,)`, scores `(S, V, C)`) in the first stream's order.

    Raises:
        ConfigError naming the stream whose videos, labels or classes differ from the first's.
    """
    (first_dir, (video_ids, labels, first_scores)), aligned = streams[0], []
    position = {video_id: index for index, video_id in enumerate(video_ids)}
    for run_dir, (ids, stream_labels, scores) in streams:
        if set(ids) != set(video_ids) or scores.shape != first_scores.shape:
            raise ConfigError(
                f"--streams {run_dir}: its validation videos or classes differ from those of "
                f"{first_dir} ({len(ids)} videos x {scores.shape[1]} classes vs {len(video_ids)} x "
                f"{first_scores.shape[1]}); expected streams trained on one dataset"
            )
        order = np.argsort([position[video_id] for video_id in ids])
        if not np.array_equal(stream_labels[order], labels):
            raise ConfigError(f"--streams {run_dir}: its labels differ from those of {first_dir}")
        aligned.append(scores[order])
    return video_ids, labels, np.stack(aligned)


def reference_weightings(stream_scores, labels):
    """The weightings a searched one should beat: equal weights and each stream alone.

    Returns:
        dict `equal` -> metrics, `single` -> list of metrics per stream (`fusion_metrics` dicts
        with `weights` added).
    """
    num_streams = len(stream_scores)

    def scored(weights):
        return {"weights": [float(w) for w in weights], **fusion_metrics(stream_scores, labels, weights)}

    return {
        "equal": scored(np.full(num_streams, 1.0 / num_streams)),
        "single": [scored(np.eye(num_streams)[index]) for index in range(num_streams)],
    }
