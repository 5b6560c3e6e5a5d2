"""The training loss: label-smoothing regularization (Section 7) and the auxiliary head's share (Section 4).

Label smoothing replaces the one-hot target δ with ``q' = (1 − ε) δ + ε / K``: the correct class
keeps ``1 − ε + ε/K``, every other class gets ``ε/K``. Cross-entropy against ``q'`` can no longer be
driven to zero by growing one logit without bound; its minimum sits at a finite logit gap
(``optimal_logit_gap``), which keeps the network from becoming over-confident.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from .model import InceptionOutputs, InceptionV2

# The paper's value (Section 7, ImageNet with K = 1000).
LABEL_SMOOTHING = 0.1
# Weight of the auxiliary classifier's loss. The paper does not give one; 0.4 is what the
# TF-slim and torchvision Inception v3 training code use (a regularizer should not dominate).
AUX_WEIGHT = 0.4


def _check_epsilon(epsilon: float) -> None:
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"label smoothing epsilon must be in [0, 1), got {epsilon}")


def smooth_targets(labels: Tensor, num_classes: int, epsilon: float = LABEL_SMOOTHING) -> Tensor:
    """``q' = (1 − ε) δ_{k,y} + ε / K`` for each label: a (N, K) matrix whose rows sum to 1."""
    _check_epsilon(epsilon)
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
    _check_epsilon(epsilon)
    if epsilon == 0:
        return math.inf
    return math.log((1 - epsilon + epsilon / num_classes) / (epsilon / num_classes))


def loss_at_gap(gap: Tensor, num_classes: int, epsilon: float = LABEL_SMOOTHING) -> Tensor:
    """Smoothed cross-entropy when the correct logit exceeds each of the K − 1 others by ``gap``."""
    _check_epsilon(epsilon)
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
    """Cross-entropy of the main logits, plus ``aux_weight`` times that of the auxiliary logits when present."""
    _check_epsilon(label_smoothing)
    if isinstance(outputs, InceptionOutputs):
        main = F.cross_entropy(outputs.logits.float(), labels, label_smoothing=label_smoothing)
        aux = F.cross_entropy(outputs.aux_logits.float(), labels, label_smoothing=label_smoothing)
        return main + aux_weight * aux
    return F.cross_entropy(outputs.float(), labels, label_smoothing=label_smoothing)


def plot_label_smoothing(epsilon: float = LABEL_SMOOTHING, num_classes: int = 3) -> Figure:
    """Left: the target distribution q' for one example. Right: loss against the logit gap, with and
    without smoothing, and the finite optimum that smoothing creates."""
    _check_epsilon(epsilon)
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    targets_ax, loss_ax = fig.subplots(1, 2, width_ratios=(1, 1.6))
    shown = min(num_classes, 10)
    target = smooth_targets(torch.tensor([0]), num_classes, epsilon)[0, :shown]
    targets_ax.bar(range(shown), [1.0] + [0.0] * (shown - 1), color="lightgrey", label="one-hot δ")
    targets_ax.bar(range(shown), target.numpy(), width=0.5, color="tab:blue", label=f"q' (ε = {epsilon:.2f})")
    targets_ax.set(xlabel="class" + (" (first 10)" if num_classes > shown else ""), ylabel="target probability")
    targets_ax.set(ylim=(0, 1.05), xticks=range(shown), title=f"targets, K = {num_classes}")
    targets_ax.legend(fontsize=8)
    gaps = torch.linspace(0, 15, 301)
    loss_ax.plot(gaps, loss_at_gap(gaps, num_classes, 0.0), color="grey", ls="--", label="ε = 0 (keeps falling)")
    loss_ax.plot(gaps, loss_at_gap(gaps, num_classes, epsilon), color="tab:blue", label=f"ε = {epsilon:.2f}")
    best = optimal_logit_gap(num_classes, epsilon)
    if math.isfinite(best) and best <= float(gaps[-1]):
        low = float(loss_at_gap(torch.tensor(best), num_classes, epsilon))
        loss_ax.plot([best], [low], "o", color="tab:red", label=f"optimum: gap {best:.2f}")
    loss_ax.set(xlabel="logit gap (correct minus each other class)", ylabel="cross-entropy", title="loss")
    loss_ax.legend(fontsize=8)
    loss_ax.grid(alpha=0.3)
    return fig


def logit_gap_trajectory(epsilon: float, num_classes: int = 3, steps: int = 300, lr: float = 1.0) -> Tensor:
    """Gradient descent on one example's free logits, from zero: the logit gap after each step.

    Nothing but the loss acts on the logits, so this isolates what the loss asks for: without
    smoothing the gap keeps growing (ever more confident), with smoothing it settles at
    ``optimal_logit_gap``.
    """
    _check_epsilon(epsilon)
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


def plot_logit_gaps(epsilons: Sequence[float], num_classes: int = 3, steps: int = 300) -> Figure:
    """``logit_gap_trajectory`` for several ε, with each finite optimum as a dotted line."""
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for epsilon in epsilons:
        line = ax.plot(logit_gap_trajectory(epsilon, num_classes, steps), label=f"ε = {epsilon:g}")[0]
        best = optimal_logit_gap(num_classes, epsilon)
        if math.isfinite(best):
            ax.axhline(best, color=line.get_color(), ls=":", lw=1)
    ax.set(xlabel="gradient step", ylabel="logit gap", title=f"free logits, K = {num_classes} (dotted: optimum)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


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
