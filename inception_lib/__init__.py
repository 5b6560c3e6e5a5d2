"""Inception V2, module by module: the model of Szegedy et al. (CVPR 2016) and tools to see inside it."""

from .blocks import BasicConv2d, InceptionBranch
from .model import InceptionFeatures, InceptionOutputs, InceptionV2, InceptionV2Config
from .modules import (
    GridReduction,
    InceptionAux,
    InceptionBlock,
    InceptionModuleF5,
    InceptionModuleF6,
    InceptionModuleF7,
    RepeatedModule,
)

__all__ = [
    "BasicConv2d",
    "GridReduction",
    "InceptionAux",
    "InceptionBlock",
    "InceptionBranch",
    "InceptionFeatures",
    "InceptionModuleF5",
    "InceptionModuleF6",
    "InceptionModuleF7",
    "InceptionOutputs",
    "InceptionV2",
    "InceptionV2Config",
    "RepeatedModule",
]
