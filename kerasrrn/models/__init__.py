"""Model builders: the ResNet backbone, the shared input stem and heads, RRN, baselines, MRRN,
the registry that builds the model a run config names, and their streaming forms."""

from kerasrrn.models.baselines import build_resnet_lstm
from kerasrrn.models.heads import HeadSpec
from kerasrrn.models.inputs import Augmentation
from kerasrrn.models.mrrn import MRRNFusion, build_fused_mrrn, build_mrrn, build_mrrn_shared
from kerasrrn.models.registry import build_model
from kerasrrn.models.resnet import SkipSpec, resnet_stages, unit_names
from kerasrrn.models.rrn import build_rrn
from kerasrrn.models.streaming import StreamingModel, build_streaming_model

__all__ = [
    "Augmentation",
    "HeadSpec",
    "MRRNFusion",
    "SkipSpec",
    "StreamingModel",
    "build_fused_mrrn",
    "build_model",
    "build_mrrn",
    "build_mrrn_shared",
    "build_resnet_lstm",
    "build_rrn",
    "build_streaming_model",
    "resnet_stages",
    "unit_names",
]
