"""Measured receptive fields: the path probe against the analytic tool, and effective fields."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inception_lib.analysis.rf import (
    Box,
    PathProbe,
    analytic_receptive_fields,
    effective_receptive_field,
    measure_boxes,
)

from .test_receptive_field import Shifted, TorchvisionStyle, UnequalBranches


def corner_and_centre_units(grid: tuple[int, int]) -> set[tuple[int, int]]:
    h, w = grid
    return {(0, 0), (h // 2, w // 2), (h - 1, w - 1)}


def test_every_module_output_of_the_model_measures_as_computed(model3):
    """The gradient support of three units (two corners and the centre) of every module output,
    clipped by the image border, is exactly the analytic field."""
    rfs = analytic_receptive_fields(model3, 299)
    requests = [(name, unit) for name, field in rfs.items() for unit in corner_and_centre_units(field.grid)]
    assert len(rfs) > 400
    measured = measure_boxes(model3, 299, requests)
    wrong = [(n, u, m, rfs.box(n, *u)) for (n, u), m in zip(requests, measured, strict=True) if m != rfs.box(n, *u)]
    assert wrong == []
    # The middle layers are where clipping has not yet swallowed the whole image.
    assert rfs.box("features.reduction_1", 8, 8) == Box(62, 62, 236, 236)


class Dilated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 2, (3, 5), stride=(1, 2), dilation=(2, 1), padding=(2, 1))
        self.pad = nn.ZeroPad2d((0, 1, 2, 0))
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, dilation=2)
        self.b = nn.Conv2d(2, 1, 4, padding="same")

    def forward(self, x):
        return self.b(self.pool(self.pad(self.a(x))))


@pytest.mark.parametrize(
    "model,size",
    [
        (UnequalBranches(), 12),
        (Shifted(), 11),
        (TorchvisionStyle(), 24),
        (nn.Sequential(nn.ZeroPad2d(3), nn.MaxPool2d(3, 2, ceil_mode=True)), 10),
    ],
)
def test_toy_networks_measure_as_computed_at_every_unit(model, size):
    rfs = analytic_receptive_fields(model, size)
    requests = [(n, (r, c)) for n, f in rfs.items() for r in range(f.grid[0]) for c in range(f.grid[1])]
    assert measure_boxes(model, size, requests) == [rfs.box(n, *u) for n, u in requests]


def test_dilated_fields_have_holes_at_the_border():
    """The analytic box is the field's hull. Inside the image the hull's edges are real taps, so
    the measured box equals it; cut by the border, a dilated field may end on a hole."""
    rfs = analytic_receptive_fields(Dilated(), 29)
    requests = [(n, (r, c)) for n, f in rfs.items() for r in range(f.grid[0]) for c in range(f.grid[1])]
    measured = measure_boxes(Dilated(), 29, requests)
    inside = cut = 0
    for (name, unit), box in zip(requests, measured, strict=True):
        hull = rfs.box(name, *unit, clip=False)
        if hull.clip(29, 29) == hull:
            assert box == hull
            inside += 1
        else:  # None: every tap of this unit falls in the padding
            assert box is None or rfs.box(name, *unit).contains(box)
            cut += box != rfs.box(name, *unit)
    assert inside > 100 and cut > 10


def test_probe_grids_match_the_analytic_grids():
    model = Dilated()
    rfs = analytic_receptive_fields(model, 29)
    probe = PathProbe(model)
    for name, field in rfs.items():
        gradient = probe.gradients(29, [(name, (field.grid[0] - 1, field.grid[1] - 1))])
        assert gradient.shape == (1, 29, 29)
        with pytest.raises(ValueError, match="outside"):
            probe.gradients(29, [(name, (field.grid[0], 0))])
    with pytest.raises(ValueError, match="no module"):
        probe.gradients(29, [("nope", (0, 0))])


def test_a_relu_and_max_pool_network_hides_paths_the_probe_finds():
    """Why a probe: with real weights, ReLUs and max pools zero whole paths, so the raw gradient
    support of a unit is smaller than its field."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 1, 3))
    image = torch.randn(1, 1, 16, 16, requires_grad=True)
    model(image)[0, 0, 2, 2].backward()
    raw = int((image.grad[0, 0] != 0).sum())
    field = analytic_receptive_fields(model, 16)["3"]
    assert raw < field.size[0] * field.size[1]
    assert measure_boxes(model, 16, [("3", (2, 2))]) == [field.box(2, 2)]


def test_effective_field_is_concentrated_inside_the_theoretical_one(model3):
    erf = effective_receptive_field(model3, "features.mixed_5.0", 299, samples=2)
    box = erf.theoretical
    assert (box.height, box.width) == (79, 79)  # fits inside the image
    assert erf.gradient.shape == (299, 299) and np.isclose(erf.gradient.sum(), 1)
    outside = erf.gradient.copy()
    outside[box.top : box.bottom + 1, box.left : box.right + 1] = 0
    assert not outside.any()  # real weights can only remove paths, never add them
    share = erf.area_share()
    assert 0 < share < 0.6  # Luo et al.: a small, Gaussian-like part of the field holds the mass
    assert erf.area_share(1.0) <= 1 and share < erf.area_share(0.99)
    rows, cols = np.indices(erf.gradient.shape)
    centre = ((rows * erf.gradient).sum(), (cols * erf.gradient).sum())
    assert np.allclose(centre, (149, 149), atol=3)
    assert all(s < 79 / 4 for s in erf.spread())
    with pytest.raises(ValueError, match="mass"):
        erf.area_share(0)
    with pytest.raises(ValueError, match=r"start with 'features\.'"):
        effective_receptive_field(model3, "mixed_5.0")


def test_functional_convolution_is_followed():
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(1, 1, 3, 5))

        def forward(self, x):
            return F.conv2d(x, self.weight, stride=2, padding=(1, 0))

    rfs = analytic_receptive_fields(nn.Sequential(Functional()), 15)
    assert rfs["0"].size == (3, 5) and rfs["0"].grid == (8, 6)
    assert measure_boxes(nn.Sequential(Functional()), 15, [("0", (7, 5))]) == [rfs.box("0", 7, 5)]


def test_figures_draw_one_panel_per_map(model3):
    from inception_lib.draw.rf import erf_figure, support_figure

    rfs = analytic_receptive_fields(model3, 299)
    requests = [("features.stem.2", (73, 73)), ("features.mixed_5.0", (0, 0))]
    gradients = PathProbe(model3).gradients(299, requests)
    fig = support_figure(gradients, [rfs.box(n, *u) for n, u in requests], ["a", "b"])
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 1
    erf = effective_receptive_field(model3, "features.mixed_5.0", 299, samples=1)
    fig = erf_figure([erf], ["random"])
    assert "% of |grad| in" in fig.axes[0].get_title()
