import urllib.error

import keras
import numpy as np
import pytest

from kerasrrn.models import build_rrn
from kerasrrn.models.pretrained import WeightsUnavailableError, load_backbone_weights

pytestmark = pytest.mark.backend_agnostic


def test_local_weights_file_loads_by_layer_name(tmp_path):
    reference = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(None, None, 3))
    path = tmp_path / "resnet50_notop.weights.h5"
    reference.save_weights(path)
    model = build_rrn(5, 2, 32, depth=50, width=1.0, skip_units=("conv5_block2",))
    copied = load_backbone_weights(model, 50, 1.0, str(path))
    assert copied == len([layer for layer in reference.layers if layer.weights])
    for name in ("conv1_conv", "conv4_block6_3_bn", "conv5_block3_3_conv"):
        for ours, theirs in zip(model.get_layer(name).get_weights(), reference.get_layer(name).get_weights()):
            np.testing.assert_array_equal(ours, theirs)


def test_offline_imagenet_says_how_to_pass_a_local_file(monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr("keras.src.applications.resnet.file_utils.get_file", no_network)
    model = build_rrn(5, 2, 32, depth=50, width=1.0, skip_units=())
    with pytest.raises(WeightsUnavailableError, match="--weights PATH") as error:
        load_backbone_weights(model, 50, 1.0, "imagenet")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("depth, width, weights, message", [
    (18, 1.0, "imagenet", "ResNet-50/101/152"),
    (50, 0.5, "imagenet", "width=0.5"),
    (50, 1.0, "/no/such.h5", "no such file"),
])
def test_weights_that_cannot_fit_are_refused(depth, width, weights, message):
    model = build_rrn(5, 2, 32, depth=18, width=0.125, skip_units=())
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_backbone_weights(model, depth, width, weights)
