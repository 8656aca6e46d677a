import keras
import numpy as np
import pytest

from kerasrrn.training.losses import SparseSmoothedCrossentropy
from kerasrrn.models import HeadSpec, MRRNFusion, build_fused_mrrn, build_mrrn, build_mrrn_shared, resnet_stages

pytestmark = pytest.mark.backend_agnostic

CLIP_LENGTH, IMAGE_SIZE, NUM_CLASSES = 4, 32, 5
TINY = dict(clip_length=CLIP_LENGTH, image_size=IMAGE_SIZE, depth=18, width=0.125)
# Output channels of ResNet-18 stages conv3/conv4/conv5 (128/256/512) at width 1/8.
STAGE_CHANNELS = {"low": 16, "mid": 32, "high": 64}
STAGES = {"low": "conv3", "mid": "conv4", "high": "conv5"}


def sru_params(input_size, units, variant="2017"):
    """SRU equations: kernel [W | Wf | Wr], plus the highway projection Wh when
    input_size != units; biases bf, br; for 2018 also the state weights vf, vr."""
    blocks = 3 if input_size == units else 4
    return input_size * blocks * units + 2 * units + (2 * units if variant == "2018" else 0)


def dense_params(inputs, outputs):
    return inputs * outputs + outputs


def backbone_params(stage):
    frames = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    return keras.Model(frames, resnet_stages(frames, 18, 0.125, last_stage=stage)[stage]).count_params()


def head_params(channels, head):
    directions = 2 if head.bidirectional else 1
    total, input_size = 0, channels
    for _ in range(head.num_layers):
        total += directions * sru_params(input_size, head.units, head.variant)
        input_size = directions * head.units
    return total + dense_params(input_size, NUM_CLASSES)


def random_clips(batch=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, CLIP_LENGTH, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")


def layer_outputs(model, names, clips):
    """The outputs of the named layers of `model` for `clips`, as a list of arrays."""
    probe = keras.Model(model.input, {name: model.get_layer(name).output for name in names})
    outputs = probe(clips)
    return [np.asarray(outputs[name]) for name in names]


def compile_for_a_few_steps(model):
    # TensorFlow traces one graph per model (6-14 s for these ResNets on 2 shared cores) where an
    # eager step takes about 1 s; JAX is the other way round (op-by-op eager is slow).
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  run_eagerly=keras.backend.backend() == "tensorflow")


@pytest.mark.parametrize("stream", ["low", "mid", "high"])
def test_stream_parameters_are_backbone_up_to_the_tap_plus_the_head(stream):
    head = HeadSpec(units=6, num_layers=2)
    model = build_mrrn(NUM_CLASSES, stream, **TINY, head=head)
    expected = backbone_params(STAGES[stream]) + head_params(STAGE_CHANNELS[stream], head)
    assert model.count_params() == expected
    assert model.name == f"mrrn_{stream}"
    probabilities = np.asarray(model(random_clips()))
    assert probabilities.shape == (2, NUM_CLASSES) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_bidirectional_2018_head_parameters():
    head = HeadSpec(units=6, num_layers=2, variant="2018", bidirectional=True)
    model = build_mrrn(NUM_CLASSES, "high", **TINY, head=head)
    assert model.count_params() == backbone_params("conv5") + head_params(64, head)
    assert model.get_layer("time_pool").output.shape == (None, 12)


def test_a_stream_builds_the_backbone_only_up_to_its_tap():
    low = {layer.name.split("_")[0] for layer in build_mrrn(NUM_CLASSES, "low", **TINY, head=HeadSpec(units=4)).layers}
    mid = {layer.name.split("_")[0] for layer in build_mrrn(NUM_CLASSES, "mid", **TINY, head=HeadSpec(units=4)).layers}
    assert "conv3" in low and not {"conv4", "conv5"} & low
    assert "conv4" in mid and "conv5" not in mid


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_time_pool_pools_the_last_sru_outputs_and_feeds_the_classifier(pooling):
    model = build_mrrn(NUM_CLASSES, "mid", **TINY, head=HeadSpec(units=6, time_pooling=pooling, dropout=0.3))
    clips = random_clips()
    sequence, pooled, probabilities = layer_outputs(model, ["sru_2", "time_pool", "softmax"], clips)
    assert sequence.shape == (2, CLIP_LENGTH, 6)
    np.testing.assert_allclose(pooled, getattr(np, pooling)(sequence, axis=1), atol=1e-6)
    kernel, bias = model.get_layer("predictions").get_weights()
    logits = pooled @ kernel + bias
    logits -= logits.max(axis=1, keepdims=True)  # a stable softmax: untrained logits can be large
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_last_pooling_takes_the_last_sru_output():
    mean_model = build_mrrn(NUM_CLASSES, "low", **TINY, head=HeadSpec(units=6, time_pooling="mean"))
    last_model = build_mrrn(NUM_CLASSES, "low", **TINY, head=HeadSpec(units=6, time_pooling="last"))
    last_model.set_weights(mean_model.get_weights())
    clips = random_clips()
    (sequence,) = layer_outputs(mean_model, ["sru_2"], clips)
    (last,) = layer_outputs(last_model, ["time_pool"], clips)
    np.testing.assert_allclose(last, sequence[:, -1], atol=1e-6)


def test_frame_grid_feeds_the_srus_the_cell_means_of_each_frame_map():
    """Low stream at 32 px: conv3 maps are 4x4, a grid of 2 gives 2x2 cells of 2x2 positions."""
    model = build_mrrn(NUM_CLASSES, "low", **TINY, head=HeadSpec(units=6, num_layers=1, frame_grid=2))
    clips = random_clips()
    stage, pooled = layer_outputs(model, ["conv3_block2_out", "grid_flatten"], clips)
    assert stage.shape == (2 * CLIP_LENGTH, 4, 4, STAGE_CHANNELS["low"])
    cells = stage.reshape(2 * CLIP_LENGTH, 2, 2, 2, 2, -1).mean(axis=(2, 4))  # (N, row, col, C)
    np.testing.assert_allclose(pooled, cells.reshape(2 * CLIP_LENGTH, -1), atol=1e-5)
    assert model.count_params() == backbone_params("conv3") + head_params(4 * STAGE_CHANNELS["low"], HeadSpec(units=6, num_layers=1))


def test_a_frame_grid_that_does_not_divide_the_map_is_refused():
    with pytest.raises(ValueError, match=r"divide the tapped map, 2x2 .*Received: frame_grid=3"):
        build_mrrn(NUM_CLASSES, "mid", **TINY, head=HeadSpec(units=4, frame_grid=3))
    with pytest.raises(ValueError, match="Received: frame_grid=0"):
        HeadSpec(frame_grid=0)


def test_head_spec_rejects_bad_values():
    with pytest.raises(ValueError, match="Received: time_pooling='median'"):
        HeadSpec(time_pooling="median")
    with pytest.raises(ValueError, match="Received: num_layers=0"):
        HeadSpec(num_layers=0)
    with pytest.raises(ValueError, match="Received: stream='top'"):
        build_mrrn(NUM_CLASSES, "top", **TINY)


def test_fusion_is_the_weighted_average_of_the_streams():
    rng = np.random.default_rng(3)
    streams = [rng.dirichlet(np.ones(4), size=5).astype("float32") for _ in range(3)]
    fusion = MRRNFusion([0.2, 0.3, 0.5])
    fused = np.asarray(fusion(streams))
    np.testing.assert_allclose(fused, 0.2 * streams[0] + 0.3 * streams[1] + 0.5 * streams[2], atol=1e-6)
    assert not fusion.trainable_weights
    np.testing.assert_allclose(fusion.non_trainable_weights[0], [0.2, 0.3, 0.5])
    rebuilt = MRRNFusion.from_config(fusion.get_config())
    np.testing.assert_allclose(np.asarray(rebuilt(streams)), fused, atol=1e-7)


@pytest.mark.parametrize("weights", [[1.0], [-0.5, 1.5], [0.5, 0.6], [float("nan"), 1.0], ["a", 1.0], 0.5])
def test_fusion_rejects_weights_off_the_simplex(weights):
    with pytest.raises(ValueError, match="Received: stream_weights="):
        MRRNFusion(weights)


def test_fusion_needs_one_input_per_weight():
    with pytest.raises(ValueError, match="fuses 3 streams"):
        MRRNFusion([0.2, 0.3, 0.5])([np.ones((2, 4), "float32")] * 2)


def test_fused_model_saves_and_reloads_with_identical_outputs(tmp_path):
    low = build_mrrn(NUM_CLASSES, "low", **TINY, head=HeadSpec(units=4, bidirectional=True, time_pooling="last"))
    high = build_mrrn(NUM_CLASSES, "high", **TINY, head=HeadSpec(units=4, variant="2018", num_layers=1))
    fused = build_fused_mrrn([low, high], [0.25, 0.75])
    clips = random_clips()
    expected = 0.25 * np.asarray(low(clips)) + 0.75 * np.asarray(high(clips))
    np.testing.assert_allclose(np.asarray(fused(clips)), expected, atol=1e-6)
    assert fused.count_params() == low.count_params() + high.count_params() + 2

    fused.save(tmp_path / "fused.keras")
    reloaded = keras.saving.load_model(tmp_path / "fused.keras")
    np.testing.assert_allclose(np.asarray(reloaded(clips)), np.asarray(fused(clips)), atol=1e-6)
    assert [layer.name for layer in reloaded.layers] == ["frames", "mrrn_low", "mrrn_high", "fusion"]
    assert isinstance(reloaded.get_layer("fusion"), MRRNFusion)


def test_fused_streams_must_share_clips_and_names():
    head = HeadSpec(units=4, num_layers=1)
    low = build_mrrn(NUM_CLASSES, "low", **TINY, head=head)
    longer = build_mrrn(NUM_CLASSES, "high", **{**TINY, "clip_length": 6}, head=head)
    with pytest.raises(ValueError, match="share their input shape"):
        build_fused_mrrn([low, longer], [0.5, 0.5])
    with pytest.raises(ValueError, match="distinct names"):
        build_fused_mrrn([low, low], [0.5, 0.5])


def test_shared_mrrn_outputs_the_mean_of_three_heads_on_one_backbone():
    head = HeadSpec(units=6, num_layers=1)
    model = build_mrrn_shared(NUM_CLASSES, **TINY, head=head)
    expected_params = (backbone_params("conv5") + sum(head_params(c, head) for c in STAGE_CHANNELS.values())
                       + 3)  # the fusion's fixed weights
    assert model.count_params() == expected_params
    clips = random_clips()
    heads = layer_outputs(model, ["low", "mid", "high"], clips)
    np.testing.assert_allclose(np.asarray(model(clips)), np.mean(heads, axis=0), atol=1e-6)
    assert np.asarray(model(clips, training=True)).shape == (2, 3, NUM_CLASSES)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_shared_mrrn_loss_sums_the_heads_and_metrics_score_the_fusion(label_smoothing):
    model = build_mrrn_shared(3, **TINY, head=HeadSpec(units=4, num_layers=1))
    model.compile(optimizer="adam", loss=SparseSmoothedCrossentropy(label_smoothing),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="top1")])
    labels = np.array([1, 0])
    # Two heads vote for class 0, but the mean of the three heads is highest for class 1.
    heads = np.array([[[0.6, 0.35, 0.05], [0.6, 0.35, 0.05], [0.05, 0.9, 0.05]],
                      [[0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.7, 0.2, 0.1]]], "float32")
    targets = np.eye(3)[labels] * (1 - label_smoothing) + label_smoothing / 3
    expected = sum(-(targets * np.log(heads[:, head])).sum(axis=1).mean() for head in range(3))
    loss = model.compute_loss(y=labels, y_pred=heads, training=True)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    assert float(model.compute_metrics(None, labels, heads)["top1"]) == 1.0


def test_shared_mrrn_reloads_as_shared_mrrn(tmp_path):
    model = build_mrrn_shared(NUM_CLASSES, **TINY, head=HeadSpec(units=4, num_layers=1))
    model.save(tmp_path / "shared.keras")
    reloaded = keras.saving.load_model(tmp_path / "shared.keras")
    assert type(reloaded) is type(model)
    clips = random_clips()
    np.testing.assert_allclose(np.asarray(reloaded(clips)), np.asarray(model(clips)), atol=1e-6)


def assert_a_few_steps_train(model, watched_layers):
    compile_for_a_few_steps(model)
    before = [np.array(layer.trainable_weights[0]) for layer in watched_layers]
    losses = [model.train_on_batch(random_clips(seed=step), np.array([0, 3])) for step in range(2)]
    assert np.all(np.isfinite(losses))
    for layer, weight in zip(watched_layers, before):
        assert not np.allclose(weight, np.array(layer.trainable_weights[0])), layer.name


def test_a_stream_trains():
    model = build_mrrn(NUM_CLASSES, "high", **TINY, head=HeadSpec(units=4, sru_dropout=0.1, dropout=0.2))
    assert_a_few_steps_train(model, [model.get_layer(name) for name in ("conv1_conv", "sru_1", "sru_2", "predictions")])


def test_shared_mrrn_trains_every_head():
    model = build_mrrn_shared(NUM_CLASSES, **TINY, head=HeadSpec(units=4, num_layers=1))
    names = ["conv1_conv", "low_sru_1", "mid_sru_1", "high_sru_1", "low_predictions", "high_predictions"]
    assert_a_few_steps_train(model, [model.get_layer(name) for name in names])


def test_fused_model_trains_every_stream_but_not_the_fusion_weights():
    """Also the training test of the low and mid streams: one compiled step for all three."""
    head = HeadSpec(units=4, num_layers=1)
    streams = [build_mrrn(NUM_CLASSES, stream, **TINY, head=head) for stream in ("low", "mid", "high")]
    fused = build_fused_mrrn(streams, [0.2, 0.3, 0.5])
    assert_a_few_steps_train(
        fused, [stream.get_layer(name) for stream in streams for name in ("conv1_conv", "sru_1", "predictions")]
    )
    np.testing.assert_allclose(fused.get_layer("fusion").get_weights()[0], [0.2, 0.3, 0.5])
