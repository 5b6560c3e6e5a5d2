"""Weight initialization: the default draw every ``InceptionV2`` gets, and the two changes that let a
fresh network learn the built-in shapes on a CPU (docs/training.md).

A deep stack of convolution → BatchNorm → ReLU, freshly initialized, can be *chaotic*: inputs that
differ by far less than one grey level leave the trunk with very different features (Yang et al.,
"A Mean Field Theory of Batch Normalization", ICLR 2019). Starting BatchNorm's shift β above zero
keeps most ReLUs in their linear part and calms the network; ``analysis.sensitivity`` measures it.
"""

from __future__ import annotations

import torch
from torch import nn


def init_weights(model: nn.Module, seed: int | None = None) -> None:
    """He-normal (fan_out) convolutions, BatchNorm at identity, linear layers N(0, 0.01), zero biases.

    He init keeps activation variance steady through the ReLUs, which matters for training from
    scratch. With ``seed`` the draws come from a private generator: same seed, same weights,
    whatever else used torch's global RNG.
    """
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01, generator=generator)
            nn.init.zeros_(m.bias)


def shift_batchnorm(model: nn.Module, shift: float) -> nn.Module:
    """Set every BatchNorm's shift β to ``shift`` (in place; returns the model)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
                module.bias.fill_(shift)
    return model


def set_batchnorm_momentum(model: nn.Module, momentum: float) -> nn.Module:
    """Set every BatchNorm's running-statistics momentum (PyTorch convention: the new batch's weight)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = momentum
    return model


def zero_classifiers(model: nn.Module) -> nn.Module:
    """Start the classifier (and the auxiliary one) at zero weights: the first predictions are uniform."""
    heads = [model.fc] + ([model.features.aux.fc] if model.features.aux is not None else [])
    with torch.no_grad():
        for head in heads:
            head.weight.zero_()
    return model
