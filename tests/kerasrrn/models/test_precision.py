import keras
import numpy as np
import pytest

from kerasrrn.models import Augmentation, build_rrn

pytestmark = pytest.mark.backend_agnostic


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_dtype_policy(request.param)
    yield request.param
    keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"], indirect=True)
@pytest.mark.parametrize("kind", ["identity", "channel", "conv"])
def test_rrn_trains_under_mixed_precision_with_float32_variables(policy, kind):
    model = build_rrn(4, 4, 32, 18, 0.125, ("conv3_block2", "conv5_block2"), skip_kind=kind,
                      augmentation=Augmentation("random_resized", flip=True, brightness=0.2, contrast=0.2))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    frames = np.random.default_rng(0).integers(0, 256, (2, 4, 40, 48, 3)).astype("uint8")
    loss = model.train_on_batch(frames, np.array([1, 3]))
    clips = frames[:, :, 4:36, 8:40]
    assert np.isfinite(loss)
    assert all(variable.dtype == "float32" for variable in model.weights)
    for layer in ("crop", "color_jitter", "conv5_block2_temporal_skip"):
        assert model.get_layer(layer).compute_dtype == policy.split("_")[1]
    probabilities = model.predict_on_batch(clips)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
