import pytest

from kerasrrn.config import Config, ConfigError
from kerasrrn.layers import ClipColorJitter
from kerasrrn.models import build_model

pytestmark = pytest.mark.backend_agnostic


def tiny_config(model, brightness, contrast):
    config = Config()
    config.data.clip_length, config.data.image_size = 4, 32
    config.data.brightness, config.data.contrast = brightness, contrast
    config.model.model, config.model.width = model, 0.125
    config.model.sru_units = config.model.lstm_units = 8
    return config


@pytest.mark.parametrize("family", ["rrn", "resnet", "resnet_lstm", "mrrn", "mrrn_shared"])
def test_every_model_jitters_colours_as_the_data_config_says(family):
    model = build_model(tiny_config(family, 0.2, 0.3), num_classes=3)
    jitter = model.get_layer("color_jitter")
    assert isinstance(jitter, ClipColorJitter) and (jitter.brightness, jitter.contrast) == (0.2, 0.3)
    assert model.layers[1] is jitter  # right after the input, before the preprocessing
    plain = build_model(tiny_config(family, 0.0, 0.0), num_classes=3)
    assert not any(isinstance(layer, ClipColorJitter) for layer in plain.layers)
    assert len(plain.weights) == len(model.weights)


def test_a_contrast_of_one_or_more_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="--contrast"):
        build_model(tiny_config("rrn", 0.1, 1.0), num_classes=3)
