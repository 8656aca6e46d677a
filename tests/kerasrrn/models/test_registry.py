import pytest

from kerasrrn.config import Config, ConfigError
from kerasrrn.layers import ClipColorJitter, ClipCrop
from kerasrrn.models import Augmentation, build_model, build_rrn

pytestmark = pytest.mark.backend_agnostic


def tiny_config(model, brightness, contrast):
    config = Config()
    config.data.clip_length, config.data.image_size = 4, 32
    config.data.brightness, config.data.contrast = brightness, contrast
    config.model.model, config.model.width = model, 0.125
    config.model.sru_units = config.model.lstm_units = 8
    return config


@pytest.mark.parametrize("family", ["rrn", "resnet", "resnet_lstm", "mrrn", "mrrn_shared"])
def test_every_model_crops_flips_and_jitters_as_the_data_config_says(family):
    config = tiny_config(family, 0.2, 0.3)
    config.data.train_crop, config.data.min_crop_scale, config.data.flip = "random", 0.5, True
    model = build_model(config, num_classes=3)
    crop, jitter = model.get_layer("crop"), model.get_layer("color_jitter")
    assert isinstance(crop, ClipCrop) and (crop.size, crop.mode, crop.min_scale, crop.flip) == (32, "random", 0.5, True)
    assert isinstance(jitter, ClipColorJitter) and (jitter.brightness, jitter.contrast) == (0.2, 0.3)
    assert model.layers[1:3] == [crop, jitter]  # right after the input, before the preprocessing
    assert model.input_shape == (None, 4, None, None, 3)  # frames of any size
    plain = build_model(tiny_config(family, 0.0, 0.0), num_classes=3)
    assert not any(isinstance(layer, ClipColorJitter) for layer in plain.layers)
    assert len(plain.weights) == len(model.weights)


def test_without_a_crop_the_model_takes_clips_of_the_image_size_only():
    model = build_rrn(3, 4, 32, 18, 0.125, augmentation=Augmentation(brightness=0.1))
    assert model.input_shape == (None, 4, 32, 32, 3)
    assert not any(isinstance(layer, ClipCrop) for layer in model.layers)


def test_a_contrast_of_one_or_more_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="--contrast"):
        build_model(tiny_config("rrn", 0.1, 1.0), num_classes=3)


def test_a_crop_scale_above_one_is_a_one_line_config_error():
    config = tiny_config("rrn", 0.1, 0.1)
    config.data.min_crop_scale = 1.5
    with pytest.raises(ConfigError, match="--min-crop-scale"):
        build_model(config, num_classes=3)
