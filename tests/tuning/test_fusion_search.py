"""Fusion-weight search on cached scores: the simplex map, the objective, the search, the cache."""

import numpy as np
import pytest

from kerasrrn.config import ConfigError
from tests.kerasrrn.conftest import tiny_run  # noqa: F401 - fixture
from tests.kerasrrn.test_reliability import copied_run
from tuning import fusion


@pytest.mark.parametrize("shares, weights", [
    ((1 / 3, 1 / 2), (1 / 3, 1 / 3, 1 / 3)),
    ((1.0, 0.7), (1.0, 0.0, 0.0)),
    ((0.0, 1.0), (0.0, 1.0, 0.0)),
    ((0.0, 0.0), (0.0, 0.0, 1.0)),
    ((0.5, 0.5), (0.5, 0.25, 0.25)),
    ((0.2, 0.25), (0.2, 0.2, 0.6)),
])
def test_stick_breaking_maps_shares_to_the_simplex(shares, weights):
    np.testing.assert_allclose(fusion.stick_breaking_weights(shares), weights, atol=1e-12)


def test_the_default_shares_give_equal_weights():
    space = fusion.fusion_space(3)
    np.testing.assert_allclose(fusion.trial_weights(space, 3), [1 / 3] * 3)


def test_fusion_metrics_match_a_numpy_reference():
    rng = np.random.default_rng(3)
    scores = rng.dirichlet(np.ones(5), size=(3, 20))
    labels = rng.integers(0, 5, 20)
    weights = np.array([0.5, 0.2, 0.3])
    fused = 0.5 * scores[0] + 0.2 * scores[1] + 0.3 * scores[2]
    top1 = np.mean(fused.argmax(axis=1) == labels)
    log_likelihood = np.mean([np.log(fused[index, label]) for index, label in enumerate(labels)])
    metrics = fusion.fusion_metrics(scores, labels, weights)
    assert metrics["top1"] == pytest.approx(top1)
    assert metrics["mean_log_likelihood"] == pytest.approx(log_likelihood)
    assert metrics["score"] == pytest.approx(top1 + np.exp(log_likelihood) / 21)


def test_the_score_ranks_top1_before_likelihood():
    """Stream 0 is right on both videos with little margin; stream 1 is sure of video 0 and
    wrong on video 1: stream 0 alone has the better top-1 and the worse likelihood."""
    labels = np.array([0, 0])
    scores = np.array([
        [[0.51, 0.49], [0.51, 0.49]],
        [[1.00, 0.00], [0.45, 0.55]],
    ])
    first = fusion.fusion_metrics(scores, labels, [1.0, 0.0])
    second = fusion.fusion_metrics(scores, labels, [0.0, 1.0])
    assert (first["top1"], second["top1"]) == (1.0, 0.5)
    assert first["mean_log_likelihood"] < second["mean_log_likelihood"]
    assert first["score"] > second["score"]
    # Equal top-1: the more confident weighting wins.
    confident = np.array([[[0.9, 0.1], [0.9, 0.1]]])
    sure = fusion.fusion_metrics(confident, labels, [1.0])
    unsure = fusion.fusion_metrics(scores[:1], labels, [1.0])
    assert sure["top1"] == unsure["top1"] and sure["score"] > unsure["score"]


def one_perfect_stream(perfect_index, num_videos=40, num_classes=5, seed=0):
    """Three streams over the same videos: `perfect_index` puts 0.9 on the true class, the
    others are random probability vectors (top-1 near chance)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, num_videos)
    perfect = np.full((num_videos, num_classes), 0.1 / (num_classes - 1))
    perfect[np.arange(num_videos), labels] = 0.9
    streams = list(rng.dirichlet(np.ones(num_classes), size=(2, num_videos)))
    streams.insert(perfect_index, perfect)
    return np.stack(streams), labels


@pytest.mark.parametrize("perfect_index", [0, 1, 2])
def test_the_bayesian_search_finds_the_perfect_stream(tmp_path, perfect_index):
    import keras_tuner
    from threadpoolctl import threadpool_limits

    scores, labels = one_perfect_stream(perfect_index)
    oracle = keras_tuner.oracles.BayesianOptimizationOracle(
        objective=fusion.fusion_objective(), max_trials=15, hyperparameters=fusion.fusion_space(3), seed=1,
    )
    tuner = fusion.FusionTuner(oracle, scores, labels, directory=tmp_path, project_name="fusion")
    with threadpool_limits(limits=1, user_api="blas"):  # as tuning.search does: 3x faster
        tuner.search(verbose=0)
    weights = fusion.trial_weights(tuner.oracle.get_best_trials(1)[0].hyperparameters, 3)
    assert weights[perfect_index] > 0.95
    fused = np.einsum("s,svc->vc", weights, scores)
    assert np.mean(fused.argmax(axis=1) == labels) == 1.0
    assert tuner.trials_run == 15


def test_align_streams_puts_every_stream_in_the_first_ones_video_order():
    ids = np.array(["a", "b", "c"])
    labels = np.array([0, 1, 2])
    first = np.eye(3)
    order = [2, 0, 1]
    video_ids, aligned_labels, scores = fusion.align_streams([
        ("runs/low", (ids, labels, first)),
        ("runs/mid", (ids[order], labels[order], 2 * first[order])),
    ])
    np.testing.assert_array_equal(video_ids, ids)
    np.testing.assert_array_equal(aligned_labels, labels)
    np.testing.assert_array_equal(scores, np.stack([first, 2 * first]))


def test_align_streams_names_a_stream_with_other_videos():
    ids, labels, scores = np.array(["a", "b"]), np.array([0, 1]), np.eye(2)
    with pytest.raises(ConfigError, match="--streams runs/mid: its validation videos"):
        fusion.align_streams([("runs/low", (ids, labels, scores)),
                              ("runs/mid", (np.array(["a", "z"]), labels, scores))])
    with pytest.raises(ConfigError, match="--streams runs/mid: its labels"):
        fusion.align_streams([("runs/low", (ids, labels, scores)), ("runs/mid", (ids, labels[::-1], scores))])


def fake_run(path, checkpoint_bytes=b"weights"):
    (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text("{}")
    (path / "checkpoints" / "best.keras").write_bytes(checkpoint_bytes)
    return path


def test_stream_scores_are_predicted_once_per_checkpoint(tmp_path, monkeypatch):
    calls = []

    def predict(run_dir, verbose=0):
        calls.append(run_dir)
        return np.array(["v1", "v2"]), np.array([1, 0]), np.array([[0.2, 0.8], [0.6, 0.4]]) * len(calls)

    monkeypatch.setattr(fusion, "predict_stream", predict)
    run = fake_run(tmp_path / "low")
    first = fusion.cached_stream_scores(run, tmp_path / "cache")
    again = fusion.cached_stream_scores(run, tmp_path / "cache")
    assert len(calls) == 1
    for computed, cached in zip(first, again):
        np.testing.assert_array_equal(computed, cached)
    np.testing.assert_array_equal(again[0], ["v1", "v2"])
    np.testing.assert_array_equal(again[2], [[0.2, 0.8], [0.6, 0.4]])
    assert sorted(path.name for path in (tmp_path / "cache").rglob("*.npy")) == [
        "labels.npy", "scores.npy", "video_ids.npy"]

    fake_run(run, b"retrained weights")
    retrained = fusion.cached_stream_scores(run, tmp_path / "cache")
    assert len(calls) == 2
    np.testing.assert_array_equal(retrained[2], [[0.4, 1.6], [1.2, 0.8]])


def test_a_stream_without_a_checkpoint_is_named(tmp_path):
    (tmp_path / "mid").mkdir()
    (tmp_path / "mid" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"--streams .*mid: no checkpoints/best.keras"):
        fusion.check_stream(tmp_path / "mid")


def test_a_stream_whose_best_checkpoint_is_truncated_is_scored_from_its_last(tiny_run, tmp_path, capsys):  # noqa: F811
    run = copied_run(tiny_run, tmp_path)
    best = run / "checkpoints" / "best.keras"
    best.write_bytes(best.read_bytes()[:1000])
    video_ids, labels, scores = fusion.predict_stream(run)
    assert len(video_ids) == len(labels) == len(scores) > 0
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and str(best) in warning[0] and "last.keras instead" in warning[0]
