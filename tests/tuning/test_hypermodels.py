"""The skip search space: every point is valid, every valid placement is in it, every point builds."""

import itertools

import keras
import keras_tuner
import pytest

from kerasrrn import config as config_lib
from kerasrrn.runs.data import load_run_data
from kerasrrn.models.resnet import SkipSpec, check_skips, unit_names
from tuning import hypermodels

CLIP_LENGTH = 4
NUM_CLASSES = 4


def tiny_config(data_dir, depth=18):
    config = config_lib.Config()
    config.data.data_dir = str(data_dir)
    config.data.synthetic_num_classes = NUM_CLASSES
    config.data.synthetic_videos_per_class = 4
    config.data.synthetic_frames = 8
    config.data.synthetic_frame_size = 32
    config.data.image_size = 32
    config.data.clip_length = CLIP_LENGTH
    config.data.frame_step = 1
    config.model.depth = depth
    config.model.width = 0.125
    config.model.skip_units = ["conv4_block2"]
    config.train.batch_size = 4
    config.train.epochs = 1
    config.train.verbose = 0
    return config


def declared_space(config):
    hp = keras_tuner.HyperParameters()
    hypermodels.declare_skip_space(hp, config)
    return hp


def space_points(space, pinned=lambda name: False):
    """Every combination of the values of the active hyperparameters (Floats, and those whose
    name is `pinned`, at their default), walking the space in declaration order as Keras Tuner
    samples it."""
    def values_of(hp):
        if pinned(hp.name):
            return [hp.default]
        if isinstance(hp, keras_tuner.engine.hyperparameters.Choice):
            return list(hp.values)
        if isinstance(hp, keras_tuner.engine.hyperparameters.Int):
            return list(range(hp.min_value, hp.max_value + 1))
        return [hp.default]

    def walk(index, values):
        if index == len(space.space):
            yield dict(values)
            return
        hp = space.space[index]
        if not all(condition.is_active(values) for condition in hp.conditions):
            yield from walk(index + 1, values)
            return
        for value in values_of(hp):
            yield from walk(index + 1, {**values, hp.name: value})

    return list(walk(0, {}))


def with_values(space, values):
    hp = space.copy()
    hp.values = values
    return hp


@pytest.fixture(scope="module")
def base_config(tmp_path_factory):
    return tiny_config(tmp_path_factory.mktemp("data"))


def skips_from(first):
    """Pins the unit Choices of skips `first` .. MAX_SKIPS (they multiply the points by ~8 each)."""
    prefixes = tuple(f"skip{index}_" for index in range(first, hypermodels.MAX_SKIPS + 1))
    return lambda name: name.startswith(prefixes)


@pytest.mark.slow  # ~35 s on 2 cores
def test_every_point_of_the_space_is_accepted_by_check_skips(base_config):
    """Every point of the ResNet-18 space with the units of skips 1-3 free and those of skips 4
    and 5 at their default (~14,000 points; 1-5 skips), Floats at their default."""
    space = declared_space(base_config)
    kinds_seen = set()
    for values in space_points(space, pinned=skips_from(4)):
        point = hypermodels.trial_config(base_config, with_values(space, values)).model
        spec = SkipSpec(point.skip_delay, point.skip_kind, point.skip_span)
        check_skips(18, {unit: spec for unit in point.skip_units}, CLIP_LENGTH)
        assert 1 <= len(point.skip_units) <= values["num_skips"]
        kinds_seen.add((point.skip_kind, point.skip_init))
    assert kinds_seen == {("identity", base_config.model.skip_init)} | {
        (kind, init) for kind in ("scalar", "channel", "conv") for init in ("default", "difference")
    }


@pytest.mark.parametrize("depth", [18, 50])
def test_the_single_skips_of_the_space_are_exactly_those_check_skips_accepts(tmp_path, depth):
    """Nothing invalid is offered and the exclusion removes only what check_skips rejects: the
    (unit, kind, span, delay) of the one-skip points equal the accepted ones for spans up to
    MAX_SPAN and delays up to MAX_DELAY. ResNet-50's first units all change shape, ResNet-18's
    conv2_block1 does not."""
    config = tiny_config(tmp_path, depth)
    space = declared_space(config)
    offered = set()
    for values in space_points(space, pinned=skips_from(2)):  # num_skips 1 uses skip 1 only
        if values["num_skips"] == 1:
            model = hypermodels.trial_config(config, with_values(space, values)).model
            offered.add((model.skip_units[0], model.skip_kind, model.skip_span, model.skip_delay))
    expected = set()
    for unit, kind, span, delay in itertools.product(
        unit_names(depth), ["identity", "scalar", "channel", "conv"], range(1, hypermodels.MAX_SPAN + 1),
        range(1, hypermodels.MAX_DELAY + 1),
    ):
        try:
            check_skips(depth, {unit: SkipSpec(delay, kind, span)}, CLIP_LENGTH)
        except ValueError:
            continue
        expected.add((unit, kind, span, delay))
    assert offered == expected
    # A stage's first unit takes a span-1 skip from the stage input only with kind=conv.
    assert ("conv3_block1", "conv", 1, 1) in offered and ("conv3_block1", "identity", 1, 1) not in offered
    assert (("conv2_block1", "identity", 1, 1) in offered) == (depth == 18)


def test_trial_config_places_the_distinct_units_in_network_order(base_config):
    space = declared_space(base_config)
    values = {"learning_rate": 0.01, "delay": 2, "num_skips": 3, "kind": "identity", "span_fixed": 1,
              "skip1_unit_span1_fixed": "conv5_block2", "skip2_unit_span1_fixed": "conv2_block1",
              "skip3_unit_span1_fixed": "conv5_block2"}
    config = hypermodels.trial_config(base_config, with_values(space, values))
    assert config.model.skip_units == ["conv2_block1", "conv5_block2"]
    assert (config.model.skip_kind, config.model.skip_delay, config.model.skip_span) == ("identity", 2, 1)
    assert config.train.learning_rate == 0.01
    assert base_config.model.skip_units == ["conv4_block2"]  # the base point is left as it was


def test_the_base_config_is_the_default_point(base_config):
    space = declared_space(base_config)
    config = hypermodels.trial_config(base_config, with_values(space, dict(space.values)))
    assert config == base_config


@pytest.mark.parametrize("flag, value, message", [
    ("model", "resnet", "--model resnet"),
    ("clip_length", 1, "--clip-length 1"),
])
def test_a_base_config_that_cannot_be_searched_is_refused(base_config, flag, value, message):
    config = tiny_config(base_config.data.data_dir)
    section = "model" if flag == "model" else "data"
    setattr(getattr(config, section), flag, value)
    with pytest.raises(config_lib.ConfigError, match=message):
        hypermodels.check_base_config(config)


def skip_layer_names(model):
    return sorted(layer.name for layer in model.layers if layer.name.endswith("_temporal_skip"))


@pytest.mark.slow
def test_the_hypermodel_builds_every_placement_of_the_space(base_config):
    """Builds every distinct single-skip model (unit, kind, span; delays taken in turn) and, per
    (kind, span), the three-skip model with the most distinct units: each has the sampled skips
    and maps clips to class probabilities. (All multi-skip combinations are validated above; there
    are too many to build in a test.)"""
    hypermodel = hypermodels.SkipHyperModel(base_config, load_run_data(base_config))
    space = declared_space(base_config)
    single, widest = {}, {}
    for values in space_points(space, pinned=skips_from(4)):
        config = hypermodels.trial_config(base_config, with_values(space, values))
        model = config.model
        if values["num_skips"] == 1:
            single.setdefault((model.skip_units[0], model.skip_kind, model.skip_span), values)
        elif values["num_skips"] == 3:
            key = (model.skip_kind, model.skip_span)
            if len(model.skip_units) > len(widest.get(key, ((), None))[0]):
                widest[key] = (model.skip_units, values)
    delays = itertools.cycle(range(1, CLIP_LENGTH))
    points = [{**values, "delay": next(delays)} for values in single.values()]
    points += [values for _, values in widest.values()]
    # ResNet-18: conv takes 8 units at span 1 and the 4 second units at span 2; identity, scalar,
    # channel take 5 at span 1 (not conv3-5_block1) and conv2_block2 at span 2.
    assert len(single) == 8 + 4 + 3 * (5 + 1) and len(widest) == 4 * 2
    for values in points:
        keras.backend.clear_session()
        hp = with_values(space, values)
        model = hypermodel.build(hp)
        expected = hypermodels.trial_config(base_config, hp).model
        assert skip_layer_names(model) == sorted(f"{unit}_temporal_skip" for unit in expected.skip_units)
        for unit in expected.skip_units:
            layer = model.get_layer(f"{unit}_temporal_skip")
            assert (layer.delay, layer.kind) == (expected.skip_delay, expected.skip_kind)
        assert model.output_shape == (None, NUM_CLASSES)
