"""How much a tiny change of the input changes the network: why training from scratch can stall.

A deep stack of convolution → BatchNorm → ReLU, freshly initialized, can be *chaotic*: two inputs
that differ by far less than one grey level come out of the trunk with very different features,
and the gradient of one batch says little about the next (Yang et al., "A Mean Field Theory of
Batch Normalization", ICLR 2019, describe the gradient explosion behind it). Such a network
memorizes its training images easily but cannot generalize, so the accuracy on new images sits at
chance. Starting BatchNorm's shift β above zero (``model.init.shift_batchnorm``) keeps most ReLUs in
their linear part and calms the network down; ``input_sensitivity`` measures the effect.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..model import InceptionV2


@dataclass(frozen=True)
class Sensitivity:
    """``feature_change``: relative change of the trunk's pooled features; ``gradient_cosine``: how
    well the weight gradient survives the perturbation (1 = unchanged); ``gradient_norm`` at init."""

    feature_change: float
    gradient_cosine: float
    gradient_norm: float


def _gradient(model: InceptionV2, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    features = model.forward_features(images)
    loss = F.cross_entropy(model.forward_head(features), labels)
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
    return features.mean((2, 3)).detach(), torch.cat([g.flatten() for g in grads])


def input_sensitivity(
    model: InceptionV2, images: Tensor, labels: Tensor, noise: float = 1e-3, seed: int = 0
) -> Sensitivity:
    """Perturb ``images`` by Gaussian noise of std ``noise`` and compare features and gradients (training mode).

    The model is copied, so its weights and BatchNorm statistics are left as they were.
    """
    if noise <= 0:
        raise ValueError(f"noise must be positive, got {noise}")
    probe = copy.deepcopy(model).train()
    generator = torch.Generator().manual_seed(seed)
    clean_features, clean_grad = _gradient(probe, images, labels)
    noisy = images + noise * torch.randn(images.shape, generator=generator)
    noisy_features, noisy_grad = _gradient(probe, noisy, labels)
    return Sensitivity(
        feature_change=float((noisy_features - clean_features).norm() / clean_features.norm()),
        gradient_cosine=float(F.cosine_similarity(clean_grad, noisy_grad, dim=0)),
        gradient_norm=float(clean_grad.norm()),
    )
