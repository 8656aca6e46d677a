"""kerasrrn: recurrent residual networks (RRN, MRRN) for video action recognition in Keras 3.

Importing the package registers every custom object (layers, the fusion layer, the loss and
the learning-rate schedule), so saved `.keras` models and compiled checkpoints load without
`custom_objects`. Layers and models use `keras.ops` only; TensorFlow is imported lazily by the
commands and `pipelines`.

One exception keeps the commands' `--help` and usage errors fast: while Python locates the
module of `python -m kerasrrn.<command>` (or `python -m tuning.search`, whose package imports
this one first), `sys.argv[0]` is the string `"-m"` (the Python docs of `-m`). The package then
registers nothing and imports no Keras; the command parses its arguments and only then calls
`register_custom_objects()`. The public names below are loaded on first use either way.
"""

import importlib
import sys

__version__ = "0.1.0"

# Public name -> the module it comes from; a name that is that module's own is the module.
_PUBLIC = {
    "SRU": "kerasrrn.layers",
    "ClipColorJitter": "kerasrrn.layers",
    "FoldTime": "kerasrrn.layers",
    "FramePreprocessing": "kerasrrn.layers",
    "MRRNFusion": "kerasrrn.models",
    "SRUCell": "kerasrrn.layers",
    "SparseSmoothedCrossentropy": "kerasrrn.training.losses",
    "TemporalSkip": "kerasrrn.layers",
    "UnfoldTime": "kerasrrn.layers",
    "WarmupDecay": "kerasrrn.training.schedules",
    "build_fused_mrrn": "kerasrrn.models",
    "build_model": "kerasrrn.models",
    "build_mrrn": "kerasrrn.models",
    "build_mrrn_shared": "kerasrrn.models",
    "build_resnet_lstm": "kerasrrn.models",
    "build_rrn": "kerasrrn.models",
    "layers": "kerasrrn.layers",
    "losses": "kerasrrn.training.losses",
    "models": "kerasrrn.models",
    "schedules": "kerasrrn.training.schedules",
}
# The modules whose import registers every custom object.
_REGISTERING = ("kerasrrn.layers", "kerasrrn.models", "kerasrrn.training.losses", "kerasrrn.training.schedules")

__all__ = sorted(_PUBLIC)


def register_custom_objects():
    """Imports the modules that define the custom Keras objects, which registers them (a no-op
    once done)."""
    for module in _REGISTERING:
        importlib.import_module(module)


def __getattr__(name):
    """The public names, imported on first use (PEP 562)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'kerasrrn' has no attribute {name!r}")
    module = importlib.import_module(_PUBLIC[name])
    value = module if module.__name__.rsplit(".", 1)[-1] == name else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_PUBLIC})


if sys.argv[:1] != ["-m"]:
    register_custom_objects()
