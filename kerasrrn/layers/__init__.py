"""Custom layers, written with `keras.ops` only so they run on every Keras backend."""

from kerasrrn.layers.clip_color_jitter import ClipColorJitter
from kerasrrn.layers.clip_crop import ClipCrop
from kerasrrn.layers.frame_preprocessing import FramePreprocessing
from kerasrrn.layers.sru import SRU, SRUCell
from kerasrrn.layers.stream_buffers import FrameCounter, FrameQueue, RunningPooling, WindowPooling
from kerasrrn.layers.temporal_skip import TemporalSkip
from kerasrrn.layers.time_fold import FoldTime, UnfoldTime

__all__ = [
    "SRU", "ClipColorJitter", "ClipCrop", "FoldTime", "FrameCounter", "FramePreprocessing", "FrameQueue",
    "RunningPooling", "SRUCell", "TemporalSkip", "UnfoldTime", "WindowPooling",
]
