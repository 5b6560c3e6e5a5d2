"""The paper's recipe (Section 8), label smoothing (Section 7), the auxiliary loss and the weight average."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inception_lib import InceptionOutputs
from inception_lib.analysis.sensitivity import input_sensitivity
from inception_lib.model.runtime import torch_threads
from inception_lib.training.config import TrainConfig
from inception_lib.training.data import ShapesDataset, labels_of
from inception_lib.training.loop import build_model
from inception_lib.training.losses import (
    AUX_WEIGHT,
    inception_loss,
    loss_at_gap,
    optimal_logit_gap,
    smooth_targets,
    smoothed_cross_entropy,
)
from inception_lib.training.optimization import build_ema, build_optimizer, build_scheduler, ema_decay_at, lr_factor


def test_smoothed_targets_follow_the_formula():
    targets = smooth_targets(torch.tensor([2, 0]), num_classes=4, epsilon=0.1)
    # q' = (1 − ε) δ + ε / K: 0.9 + 0.025 on the label, 0.025 elsewhere
    assert torch.allclose(targets[0], torch.tensor([0.025, 0.025, 0.925, 0.025]))
    assert torch.allclose(targets.sum(1), torch.ones(2))
    assert torch.equal(smooth_targets(torch.tensor([1]), 3, 0.0), torch.tensor([[0.0, 1.0, 0.0]]))


def test_formula_matches_torch_label_smoothing():
    logits, labels = torch.randn(16, 5, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 5
    for epsilon in (0.0, 0.1, 0.4):
        expected = F.cross_entropy(logits, labels, label_smoothing=epsilon)
        assert torch.allclose(smoothed_cross_entropy(logits, labels, epsilon), expected, atol=1e-6)


def test_smoothing_bounds_the_logit_gap():
    gaps = torch.linspace(0, 20, 20001)
    smoothed = loss_at_gap(gaps, num_classes=3, epsilon=0.1)
    best = float(gaps[smoothed.argmin()])
    assert best == pytest.approx(optimal_logit_gap(3, 0.1), abs=2e-3)
    assert optimal_logit_gap(3, 0.1) == pytest.approx(math.log(0.9333333 / 0.0333333), rel=1e-5)
    # Without smoothing the loss keeps falling as the gap grows: no finite optimum.
    plain = loss_at_gap(gaps, 3, 0.0)
    assert bool((plain[1:] < plain[:-1]).all()) and optimal_logit_gap(3, 0.0) == math.inf
    # loss_at_gap agrees with the cross-entropy of the corresponding logits
    logits = torch.tensor([[3.0, 0.0, 0.0]])
    assert float(loss_at_gap(torch.tensor(3.0), 3, 0.1)) == pytest.approx(
        float(F.cross_entropy(logits, torch.tensor([0]), label_smoothing=0.1)), rel=1e-6
    )
    with pytest.raises(ValueError, match=r"epsilon must be in \[0, 1\)"):
        smooth_targets(torch.tensor([0]), 3, 1.0)


def test_inception_loss_adds_the_weighted_aux_loss():
    g = torch.Generator().manual_seed(1)
    main, aux, labels = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g), torch.arange(8) % 3
    expected = F.cross_entropy(main, labels, label_smoothing=0.1) + 0.4 * F.cross_entropy(
        aux, labels, label_smoothing=0.1
    )
    assert AUX_WEIGHT == 0.4
    assert torch.allclose(inception_loss(InceptionOutputs(main, aux), labels), expected)
    assert torch.allclose(inception_loss(main, labels, 0.0), F.cross_entropy(main, labels))


def test_paper_preset_is_section_8():
    config = TrainConfig.preset("paper")
    optimizer = build_optimizer(config, [torch.nn.Parameter(torch.zeros(2))])
    assert isinstance(optimizer, torch.optim.RMSprop)
    group = optimizer.param_groups[0]
    assert (group["lr"], group["alpha"], group["eps"]) == (0.045, 0.9, 1.0)
    assert (config.grad_clip, config.label_smoothing, config.aux_logits, config.image_size) == (2.0, 0.1, True, 299)
    steps = 10  # per epoch: the rate is multiplied by 0.94 every 2 epochs
    assert [lr_factor(config, s, steps) for s in (0, 19, 20, 39, 40)] == [1.0, 1.0, 0.94, 0.94, 0.94**2]


def test_small_data_preset_warms_up_then_follows_a_cosine():
    config = TrainConfig.preset("small-data", epochs=10, warmup_epochs=1)
    optimizer = build_optimizer(config, [torch.nn.Parameter(torch.zeros(2))])
    assert isinstance(optimizer, torch.optim.AdamW)
    scheduler = build_scheduler(config, optimizer, steps_per_epoch=10)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(config.lr / 10) and lrs[9] == pytest.approx(config.lr)
    assert lrs[9:] == sorted(lrs[9:], reverse=True) and lrs[-1] < config.lr * 0.01
    assert lrs[55] == pytest.approx(config.lr / 2, rel=1e-6)  # half-way through the cosine


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        TrainConfig.preset("fast")
    with pytest.raises(ValueError, match=r"image_size 75 is too small.*at least 299"):
        TrainConfig.preset("paper", image_size=75)
    with pytest.raises(ValueError, match="optimizer='adam' is not allowed"):
        TrainConfig.preset("cpu", optimizer="adam")
    with pytest.raises(ValueError, match="batch_size must be positive"):
        TrainConfig.preset("cpu", batch_size=0)


def test_weight_average_warms_up_and_averages_buffers():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), torch.nn.BatchNorm1d(2))
    ema = build_ema(model, decay=0.99)
    ema.update_parameters(model)  # first update copies
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.fill_(2.0)
    ema.update_parameters(model)
    decay = ema_decay_at(0.99, 1)
    assert decay == pytest.approx(2 / 11)  # early on the average follows the weights closely
    assert torch.allclose(ema.module[0].weight, start + (1 - decay))
    assert torch.allclose(ema.module[1].running_mean, torch.full((2,), 2.0 * (1 - decay)))
    assert ema_decay_at(0.99, 10_000) == 0.99


def test_bn_shift_calms_the_freshly_initialized_network():
    """With BatchNorm's shift at 0 a perturbation far below one grey level moves the features by tens of
    percent; a shift of 1 makes the network ~10x calmer and its gradient stable."""
    data = ShapesDataset(8, 75, seed=0)
    images, labels = torch.stack([data[i][0] for i in range(8)]), labels_of(data)
    with torch_threads(1):
        results = {
            shift: input_sensitivity(
                build_model(TrainConfig.preset("cpu", bn_shift=shift, zero_head=False), 3), images, labels
            )
            for shift in (0.0, 1.0)
        }
    chaotic, calm = results[0.0], results[1.0]
    assert chaotic.feature_change > 0.1 and calm.feature_change < chaotic.feature_change / 10
    assert calm.gradient_cosine > 0.9 > chaotic.gradient_cosine
    assert calm.gradient_norm < chaotic.gradient_norm / 5


def test_build_model_applies_the_training_init():
    model = build_model(TrainConfig.preset("cpu", bn_shift=0.5, zero_head=True), 3)
    shifts = torch.cat([m.bias.detach() for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
    assert shifts.unique().tolist() == [0.5]
    assert not model.fc.weight.any() and model.features.aux is None
    plain = build_model(TrainConfig.preset("paper", bn_shift=0.0), 3)
    assert plain.fc.weight.any() and not plain.features.stem[0].bn.bias.any()
    assert plain.features.aux.fc.weight.any()  # the paper preset keeps the random heads
