"""The model layer: the paper's blocks and modules, the whole network, its initialization and the
grid arithmetic behind its input checks.

Layer rule: this package imports torch and the standard library only, never another part of
``inception_lib`` (``tests/test_layers.py`` enforces it). Everything else builds on it.
"""

from .blocks import BasicConv2d, InceptionBranch
from .modules import (
    GridReduction,
    InceptionAux,
    InceptionBlock,
    InceptionModuleF5,
    InceptionModuleF6,
    InceptionModuleF7,
    RepeatedModule,
)
from .network import InceptionFeatures, InceptionOutputs, InceptionV2, InceptionV2Config

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
