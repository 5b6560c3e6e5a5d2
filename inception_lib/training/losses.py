"""The training loss: label-smoothing regularization (Section 7) and the auxiliary head's share (Section 4).

Label smoothing replaces the one-hot target δ with ``q' = (1 − ε) δ + ε / K``: the correct class
keeps ``1 − ε + ε/K``, every other class gets ``ε/K``. Cross-entropy against ``q'`` can no longer be
driven to zero by growing one logit without bound; its minimum sits at a finite logit gap
(``optimal_logit_gap``), which keeps the network from becoming over-confident.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..model import InceptionOutputs, InceptionV2

# The paper's value (Section 7, ImageNet with K = 1000).
LABEL_SMOOTHING = 0.1
# Weight of the auxiliary classifier's loss. The paper does not give one; 0.4 is TF-slim's
# (`train_image_classifier.py` adds `softmax_cross_entropy(end_points['AuxLogits'], ...,
# label_smoothing=FLAGS.label_smoothing, weights=0.4)`, the same smoothing as the main loss).
# torchvision's model defines no loss at all; GoogLeNet (Szegedy et al. 2015) weighted each of its
# two auxiliary losses by 0.3.
AUX_WEIGHT = 0.4


def check_epsilon(epsilon: float) -> None:
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"label smoothing epsilon must be in [0, 1), got {epsilon}")


def smooth_targets(labels: Tensor, num_classes: int, epsilon: float = LABEL_SMOOTHING) -> Tensor:
    """``q' = (1 − ε) δ_{k,y} + ε / K`` for each label: a (N, K) matrix whose rows sum to 1."""
    check_epsilon(epsilon)
    one_hot = F.one_hot(labels, num_classes).float()
    return (1 - epsilon) * one_hot + epsilon / num_classes


def smoothed_cross_entropy(logits: Tensor, labels: Tensor, epsilon: float = LABEL_SMOOTHING) -> Tensor:
    """Mean of ``−Σ_k q'_k log p_k``, written out from the formula (equals torch's ``label_smoothing=``)."""
    targets = smooth_targets(labels, logits.shape[1], epsilon)
    return -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


def optimal_logit_gap(num_classes: int, epsilon: float = LABEL_SMOOTHING) -> float:
    """Logit gap (correct minus each other class) that minimises the smoothed loss: log(q'_y / q'_other).

    At the optimum the softmax equals the smoothed target, so the gap is the log-ratio of the two
    target values; without smoothing (ε = 0) it is infinite.
    """
    check_epsilon(epsilon)
    if epsilon == 0:
        return math.inf
    return math.log((1 - epsilon + epsilon / num_classes) / (epsilon / num_classes))


def loss_at_gap(gap: Tensor, num_classes: int, epsilon: float = LABEL_SMOOTHING) -> Tensor:
    """Smoothed cross-entropy when the correct logit exceeds each of the K − 1 others by ``gap``."""
    check_epsilon(epsilon)
    log_p_correct = -torch.log1p((num_classes - 1) * torch.exp(-gap))
    log_p_other = log_p_correct - gap
    q_correct = 1 - epsilon + epsilon / num_classes
    return -(q_correct * log_p_correct + (1 - q_correct) * log_p_other)


def inception_loss(
    outputs: Tensor | InceptionOutputs,
    labels: Tensor,
    label_smoothing: float = LABEL_SMOOTHING,
    aux_weight: float = AUX_WEIGHT,
) -> Tensor:
    """Cross-entropy of the main logits, plus ``aux_weight`` times that of the auxiliary logits when
    present; both with the same ``label_smoothing``, as in TF-slim's training script."""
    check_epsilon(label_smoothing)
    if isinstance(outputs, InceptionOutputs):
        main = F.cross_entropy(outputs.logits.float(), labels, label_smoothing=label_smoothing)
        aux = F.cross_entropy(outputs.aux_logits.float(), labels, label_smoothing=label_smoothing)
        return main + aux_weight * aux
    return F.cross_entropy(outputs.float(), labels, label_smoothing=label_smoothing)


def logit_gap_trajectory(epsilon: float, num_classes: int = 3, steps: int = 300, lr: float = 1.0) -> Tensor:
    """Gradient descent on one example's free logits, from zero: the logit gap after each step.

    Nothing but the loss acts on the logits, so this isolates what the loss asks for: without
    smoothing the gap keeps growing (ever more confident), with smoothing it settles at
    ``optimal_logit_gap``.
    """
    check_epsilon(epsilon)
    logits = torch.zeros(1, num_classes, requires_grad=True)
    optimizer = torch.optim.SGD([logits], lr=lr)
    label = torch.tensor([0])
    gaps = []
    for _ in range(steps):
        loss = F.cross_entropy(logits, label, label_smoothing=epsilon)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        gaps.append(float((logits[0, 0] - logits[0, 1]).detach()))
    return torch.tensor(gaps)


@dataclass(frozen=True)
class AuxGradients:
    """Gradients reaching the 17 x 17 grid (the output of mixed_6, where the auxiliary head reads)."""

    main_norm: float
    aux_norm: float  # already multiplied by the aux weight
    cosine: float


def aux_gradients(model: InceptionV2, images: Tensor, labels: Tensor, aux_weight: float = AUX_WEIGHT) -> AuxGradients:
    """How strongly, and in which direction, each loss pushes the features the auxiliary head sees."""
    if model.features.aux is None:
        raise ValueError("this model has no auxiliary head (built with aux_logits=False)")
    captured: list[Tensor] = []  # the model's own forward pass, with mixed_6's output kept
    hook = model.features.mixed_6.register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        outputs = model(images, with_aux=True)
    finally:
        hook.remove()
    (grid,) = captured
    main = F.cross_entropy(outputs.logits, labels)
    aux = aux_weight * F.cross_entropy(outputs.aux_logits, labels)
    (from_main,) = torch.autograd.grad(main, grid, retain_graph=True)
    (from_aux,) = torch.autograd.grad(aux, grid)
    return AuxGradients(
        main_norm=float(from_main.norm()),
        aux_norm=float(from_aux.norm()),
        cosine=float(F.cosine_similarity(from_main.flatten(), from_aux.flatten(), dim=0)),
    )
