import os
import subprocess
import sys

BLOCK_TENSORFLOW_AND_BUILD = """
import sys

class BlockTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow is not installed here")

sys.meta_path.insert(0, BlockTensorFlow())
import numpy as np
import kerasrrn
from kerasrrn.models import build_rrn

model = build_rrn(3, 4, 32, 18, 0.125, ("conv4_block2",), skip_kind="channel")
probabilities = np.asarray(model(np.zeros((2, 4, 32, 32, 3), "float32")))
assert probabilities.shape == (2, 3)
print("ok", kerasrrn.layers.TemporalSkip.__name__)
"""


def test_layers_and_models_work_on_jax_without_tensorflow():
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_TENSORFLOW_AND_BUILD],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok TemporalSkip")
