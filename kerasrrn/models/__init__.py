"""Model builders: the ResNet backbone, RRN, baselines and MRRN."""

from kerasrrn.models.baselines import build_resnet_lstm
from kerasrrn.models.mrrn import HeadSpec, MRRNFusion, build_fused_mrrn, build_mrrn, build_mrrn_shared
from kerasrrn.models.registry import build_model
from kerasrrn.models.resnet import SkipSpec, resnet_stages, unit_names
from kerasrrn.models.rrn import Augmentation, build_rrn

__all__ = [
    "Augmentation",
    "HeadSpec",
    "MRRNFusion",
    "SkipSpec",
    "build_fused_mrrn",
    "build_model",
    "build_mrrn",
    "build_mrrn_shared",
    "build_resnet_lstm",
    "build_rrn",
    "resnet_stages",
    "unit_names",
]
