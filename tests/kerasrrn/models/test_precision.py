import keras
import numpy as np
import pytest

from kerasrrn.models import build_rrn

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
                      color_jitter=(0.2, 0.2))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    clips = np.random.default_rng(0).uniform(0, 255, (2, 4, 32, 32, 3)).astype("float32")
    loss = model.train_on_batch(clips, np.array([1, 3]))
    assert np.isfinite(loss)
    assert all(variable.dtype == "float32" for variable in model.weights)
    for layer in ("color_jitter", "conv5_block2_temporal_skip"):
        assert model.get_layer(layer).compute_dtype == policy.split("_")[1]
    probabilities = model.predict_on_batch(clips)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
