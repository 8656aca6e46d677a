import keras
import numpy as np
import pytest

from kerasrrn.choices import stage_map_size
from kerasrrn.models import resnet
from kerasrrn.models.pretrained import copy_weights_by_name

pytestmark = pytest.mark.backend_agnostic

APPLICATIONS = {50: keras.applications.ResNet50, 101: keras.applications.ResNet101,
                152: keras.applications.ResNet152}


def backbone(depth, width=1.0, size=64, last_stage="conv5"):
    frames = keras.Input((size, size, 3))
    stages = resnet.resnet_stages(frames, depth, width, last_stage=last_stage)
    return keras.Model(frames, stages[last_stage])


def test_resnet50_with_keras_applications_weights_gives_the_same_outputs():
    reference = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    ours = backbone(50)
    assert copy_weights_by_name(reference, ours) == len([l for l in reference.layers if l.weights])
    frames = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    difference = np.abs(np.asarray(ours(frames)) - np.asarray(reference(frames)))
    assert difference.max() < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("depth", [101, 152])
def test_deep_resnets_name_and_shape_every_weight_as_keras_applications(depth):
    reference = APPLICATIONS[depth](weights=None, include_top=False, input_shape=(32, 32, 3))
    ours = backbone(depth, size=32)
    weights = lambda model: {l.name: [w.shape for w in l.weights] for l in model.layers if l.weights}
    assert weights(ours) == weights(reference)


@pytest.mark.parametrize("depth, units", [(18, 8), (34, 16), (50, 16), (101, 33), (152, 50)])
def test_unit_names_count_every_residual_unit(depth, units):
    names = resnet.unit_names(depth)
    assert len(names) == units and names[0] == "conv2_block1" and names[-1].startswith("conv5")


@pytest.mark.parametrize("depth, channels", [(18, 128), (34, 128)])
def test_basic_unit_resnets_downsample_32x_with_width_multiplier(depth, channels):
    model = backbone(depth, width=0.25)
    assert model.output.shape == (None, 2, 2, channels)
    assert model.get_layer("conv5_block2_out") is not None


@pytest.mark.parametrize("image_size", [32, 64, 112, 100])
def test_stage_map_size_is_the_size_the_backbone_gives(image_size):
    frames = keras.Input((image_size, image_size, 3))
    stages = resnet.resnet_stages(frames, 18, 0.125)
    for stage in resnet.STAGE_NAMES:
        assert stages[stage].shape[1:3] == (stage_map_size(image_size, stage),) * 2


def test_last_stage_builds_only_up_to_the_tap():
    model = backbone(18, width=0.25, last_stage="conv3")
    assert model.output.shape == (None, 8, 8, 32)
    assert not any(layer.name.startswith("conv4") for layer in model.layers)


@pytest.mark.parametrize(
    "depth, skips, message",
    [
        (18, {"conv6_block1": resnet.SkipSpec()}, "Unknown residual unit 'conv6_block1'"),
        (18, {"conv3_block2": resnet.SkipSpec(span=3)}, "span=3"),
        (18, {"conv3_block1": resnet.SkipSpec()}, "use kind='conv'"),
        (50, {"conv2_block1": resnet.SkipSpec(kind="channel")}, "use kind='conv'"),
        (18, {"conv3_block2": resnet.SkipSpec(delay=8)}, "delay=8"),
    ],
)
def test_impossible_skips_are_rejected_with_the_unit_named(depth, skips, message):
    with pytest.raises(ValueError, match=message):
        resnet.check_skips(depth, skips, clip_length=8)


def test_conv_skip_into_a_downsampling_unit_projects_the_stage_input():
    frames = keras.Input((64, 64, 3))
    skips = {"conv4_block1": resnet.SkipSpec(kind="conv"), "conv2_block1": resnet.SkipSpec()}
    stages = resnet.resnet_stages(frames, 18, 0.25, skips, clip_length=2)
    model = keras.Model(frames, stages["conv5"])
    assert model.get_layer("conv4_block1_temporal_skip").output.shape == (None, 4, 4, 64)
    assert model(np.zeros((4, 64, 64, 3), "float32")).shape == (4, 2, 2, 128)


def test_moving_statistics_catch_up_within_a_short_epoch():
    # A video epoch can be ~20 steps: after two (40 steps), inference must see what training saw
    # (at keras.applications' momentum 0.99 the moving statistics move 33% of the way in 40
    # steps, at 0.9 98.5%).
    model = backbone(18, width=0.125, size=32, last_stage="conv2")
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "mse")  # only the statistics move
    rng = np.random.default_rng(0)
    frames = (100 + 50 * rng.normal(size=(8, 32, 32, 3))).astype("float32")
    target = np.zeros((8,) + model.output_shape[1:], "float32")
    for _ in range(40):
        model.train_on_batch(frames, target)
    training, inference = (np.asarray(model(frames, training=mode)) for mode in (True, False))
    assert np.abs(training - inference).mean() < 0.2 * np.abs(training).mean()
