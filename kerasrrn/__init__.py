"""kerasrrn: recurrent residual networks (RRN, MRRN) for video action recognition in Keras 3.

Importing the package registers every custom layer, so saved `.keras` models load without
`custom_objects`. Layers and models use `keras.ops` only; TensorFlow is imported lazily by the
commands and `pipelines`.
"""

from kerasrrn import layers, models
from kerasrrn.layers import SRU, FoldTime, FramePreprocessing, SRUCell, TemporalSkip, UnfoldTime
from kerasrrn.models import build_model, build_rrn

__version__ = "0.1.0"

__all__ = [
    "SRU",
    "SRUCell",
    "FoldTime",
    "FramePreprocessing",
    "TemporalSkip",
    "UnfoldTime",
    "build_model",
    "build_rrn",
    "layers",
    "models",
]
