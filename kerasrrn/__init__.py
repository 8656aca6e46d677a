"""kerasrrn: recurrent residual networks (RRN, MRRN) for video action recognition in Keras 3.

Importing the package registers every custom object (layers, the fusion layer, the loss and
the learning-rate schedule), so saved `.keras` models and compiled checkpoints load without
`custom_objects`. Layers and models use `keras.ops` only; TensorFlow is imported lazily by the
commands and `pipelines`.
"""

from kerasrrn import layers, models
from kerasrrn.layers import SRU, ClipColorJitter, FoldTime, FramePreprocessing, SRUCell, TemporalSkip, UnfoldTime
from kerasrrn.training import losses, schedules
from kerasrrn.training.losses import SparseSmoothedCrossentropy
from kerasrrn.models import (
    MRRNFusion,
    build_fused_mrrn,
    build_model,
    build_mrrn,
    build_mrrn_shared,
    build_resnet_lstm,
    build_rrn,
)
from kerasrrn.training.schedules import WarmupDecay

__version__ = "0.1.0"

__all__ = [
    "SRU",
    "ClipColorJitter",
    "FoldTime",
    "FramePreprocessing",
    "MRRNFusion",
    "SRUCell",
    "SparseSmoothedCrossentropy",
    "TemporalSkip",
    "UnfoldTime",
    "WarmupDecay",
    "build_fused_mrrn",
    "build_model",
    "build_mrrn",
    "build_mrrn_shared",
    "build_resnet_lstm",
    "build_rrn",
    "layers",
    "losses",
    "models",
    "schedules",
]
