import keras
import numpy as np
import pytest

import kerasrrn
from kerasrrn.models import build_rrn

pytestmark = pytest.mark.backend_agnostic

TINY = dict(num_classes=5, clip_length=6, image_size=32, depth=18, width=0.125)


def frame_model(model):
    return keras.Model(model.input, model.get_layer("frame_probabilities").output)


def frame_features(model, clips):
    """Pooled features per frame `(B, T, C)`: unlike the (saturated, untrained) softmax they
    show every change."""
    features = keras.Model(model.input, model.get_layer("avg_pool").output)(clips)
    return np.asarray(features).reshape(clips.shape[:2] + (-1,))


def random_clips(batch=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, 6, 32, 32, 3)).astype("float32")


def test_identity_skips_add_no_parameters():
    plain = build_rrn(**TINY, skip_units=())
    skipped = build_rrn(**TINY, skip_units=("conv3_block2", "conv5_block2"))
    assert skipped.count_params() == plain.count_params()
    assert len(skipped.layers) == len(plain.layers) + 2


def test_weighted_skips_add_their_weights():
    plain = build_rrn(**TINY, skip_units=())
    channel = build_rrn(**TINY, skip_units=("conv4_block2",), skip_kind="channel")
    assert channel.count_params() == plain.count_params() + 32


@pytest.mark.parametrize("delay, units", [(1, ("conv5_block2",)), (2, ("conv4_block2",)),
                                          (1, ("conv3_block2", "conv5_block2"))])
def test_frame_output_depends_only_on_a_bounded_window_of_past_frames(delay, units):
    """k skips of delay d let frame t see frames t, t - d, ..., t - k*d and no others: changing
    frame j changes exactly the outputs of frames j, j + d, ..., j + k*d."""
    model = build_rrn(**TINY, skip_units=units, skip_delay=delay)
    clips = random_clips()
    changed_frame = 1
    altered = clips.copy()
    altered[:, changed_frame] = np.random.default_rng(9).uniform(0, 255, altered.shape[2:])
    before, after = frame_features(model, clips), frame_features(model, altered)
    seeing = {changed_frame + hops * delay for hops in range(len(units) + 1)}
    for t in range(TINY["clip_length"]):
        same = np.allclose(before[:, t], after[:, t], atol=1e-6)
        if t in seeing:
            assert not same, f"frame {t} must see frame {changed_frame}"
        else:
            assert same, f"frame {t} must not see frame {changed_frame}"


def test_without_skips_frames_are_independent():
    model = build_rrn(**TINY, skip_units=())
    clips = random_clips()
    altered = clips.copy()
    altered[:, 2] = 0.0
    before, after = frame_features(model, clips), frame_features(model, altered)
    assert not np.allclose(before[:, 2], after[:, 2])
    np.testing.assert_allclose(np.delete(before, 2, axis=1), np.delete(after, 2, axis=1), atol=1e-6)


@pytest.mark.parametrize("span, source", [(1, "conv3_block1_out"), (2, "pool1_pool")])
def test_span_takes_the_input_of_the_unit_span_minus_one_earlier(span, source):
    model = build_rrn(num_classes=3, clip_length=3, image_size=32, depth=18, width=0.125,
                      skip_units=(f"conv{3 if span == 1 else 2}_block2",), skip_span=span,
                      skip_kind="scalar")
    target = f"conv{3 if span == 1 else 2}_block2"
    skip = model.get_layer(f"{target}_temporal_skip")
    skip.set_weights([np.float32(0.5)])
    probe = keras.Model(model.input, [model.get_layer(source).output, skip.output])
    source_values, skip_values = (np.asarray(v) for v in probe(random_clips(2)[:, :3]))
    expected = np.zeros_like(source_values).reshape((2, 3) + source_values.shape[1:])
    expected[:, 1:] = 0.5 * source_values.reshape(expected.shape)[:, :2]
    np.testing.assert_allclose(skip_values, expected.reshape(skip_values.shape), atol=1e-5)


def test_saved_model_reloads_with_identical_outputs(tmp_path):
    model = build_rrn(**TINY, skip_units=("conv4_block2",), skip_kind="conv", dropout=0.2)
    path = tmp_path / "rrn.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    clips = random_clips()
    np.testing.assert_allclose(np.asarray(reloaded(clips)), np.asarray(model(clips)), atol=1e-6)
    assert isinstance(reloaded.get_layer("conv4_block2_temporal_skip"), kerasrrn.TemporalSkip)


def test_outputs_are_clip_probabilities_averaged_over_frames():
    model = build_rrn(**TINY, skip_units=("conv5_block2",))
    clips = random_clips()
    probabilities = np.asarray(model(clips))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probabilities, np.asarray(frame_model(model)(clips)).mean(axis=1), atol=1e-6)


def test_one_training_step_changes_the_weights_and_gives_a_finite_loss():
    model = build_rrn(**TINY, skip_units=("conv5_block2",), skip_kind="channel")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [np.array(w) for w in model.get_layer("conv5_block2_temporal_skip").get_weights()]
    loss = model.train_on_batch(random_clips(), np.array([0, 3]))
    after = model.get_layer("conv5_block2_temporal_skip").get_weights()
    assert np.isfinite(loss)
    assert not np.allclose(before[0], after[0])


def test_a_frame_grid_scores_each_frame_from_its_flattened_cells():
    """At 64 px the conv5 map is 2x2, so a grid of 2 classifies the whole map, row by row."""
    model = build_rrn(**{**TINY, "image_size": 64}, skip_units=("conv5_block2",), frame_grid=2)
    clips = np.random.default_rng(1).uniform(0, 255, (2, 6, 64, 64, 3)).astype("float32")
    probe = keras.Model(model.input, [model.get_layer("conv5_block2_out").output, model.get_layer("grid_flatten").output])
    conv5, cells = (np.asarray(output) for output in probe(clips))
    assert conv5.shape[1:3] == (2, 2)
    np.testing.assert_allclose(cells, conv5.reshape(len(conv5), -1), atol=1e-6)
    assert model.get_layer("predictions").kernel.shape == (4 * conv5.shape[-1], TINY["num_classes"])
    with pytest.raises(ValueError, match="Received: frame_grid=0"):
        build_rrn(**TINY, frame_grid=0)
