"""Property: on randomly generated convolution / pooling stacks and two-branch graphs, the analytic
receptive field of every unit is exactly the field measured by gradients (the path probe)."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

from inception_lib.analysis.rf import analytic_receptive_fields, measure_boxes
from inception_lib.model.geometry import pair


@st.composite
def window_layer(draw: st.DrawFn, same: bool = False) -> nn.Module:
    """A convolution or pooling layer. ``same``: stride 1 and the padding that keeps the grid."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))  # asymmetric ones included
    if same:
        kernel = (2 * (kernel[0] // 2) + 1, 2 * (kernel[1] // 2) + 1)  # odd, so "same" padding exists
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    stride = (1, 1) if same else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(
        d * (k - 1) // 2 if same else draw(st.integers(0, k // 2)) for k, d in zip(kernel, dilation, strict=True)
    )
    kind = draw(st.sampled_from(["conv", "max", "avg"]))
    if kind == "conv":
        return nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
    if kind == "max":
        return nn.MaxPool2d(
            kernel,
            stride=stride,
            padding=tuple(min(p, k // 2) for p, k in zip(padding, kernel, strict=True)),
            dilation=dilation,
        )
    # Average pooling has no dilation; PyTorch allows padding up to half the kernel.
    return nn.AvgPool2d(
        kernel, stride=stride, padding=tuple(min(p, k // 2) for p, k in zip(padding, kernel, strict=True))
    )


class TwoBranches(nn.Module):
    """Two grid-keeping branches concatenated, as inside an Inception module."""

    def __init__(self, left: nn.Module, right: nn.Module) -> None:
        super().__init__()
        self.left, self.right = left, right

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.left(x), self.right(x)], dim=1)


@st.composite
def network(draw: st.DrawFn) -> nn.Module:
    before = draw(st.lists(window_layer(), min_size=1, max_size=3))
    after = draw(st.lists(window_layer(), min_size=0, max_size=2))
    if not draw(st.booleans()):
        return nn.Sequential(*before, *after)
    left = nn.Sequential(*draw(st.lists(window_layer(same=True), min_size=1, max_size=2)))
    right = nn.Sequential(*draw(st.lists(window_layer(same=True), min_size=0, max_size=2)))
    # After a concatenation the next layer sees two channels: sum them in a 1x1 convolution.
    return nn.Sequential(*before, TwoBranches(left, right), nn.Conv2d(2, 1, 1), *after)


@settings(
    max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.filter_too_much]
)
@given(model=network(), size=st.integers(12, 40))
def test_analytic_fields_equal_measured_fields(model, size):
    try:
        fields = analytic_receptive_fields(model, size)
    except ValueError:  # the input is too small for this stack: nothing to compare
        assume(False)
    requests = []
    for name, field in fields.items():
        h, w = field.grid
        requests += [(name, unit) for unit in {(0, 0), (h // 2, w // 2), (h - 1, w - 1), (0, w - 1)}]
    measured = measure_boxes(model, size, requests)
    for (name, unit), box in zip(requests, measured, strict=True):
        hull = fields.box(name, *unit, clip=False)
        expected = fields.box(name, *unit)
        if hull.clip(size, size) == hull or not _has_holes(model):
            assert box == expected, (name, unit, box, expected)
        else:  # a field with holes, cut by the border, may end on one of them
            assert box is None or expected.contains(box), (name, unit, box, expected)


def _has_holes(model: nn.Module) -> bool:
    """A dilated kernel, or a stride longer than its kernel, skips input pixels inside the hull."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            kernel, stride = pair(m.kernel_size), pair(m.stride or m.kernel_size)
            if any(d > 1 for d in pair(getattr(m, "dilation", 1))):
                return True
            if any(k < s for k, s in zip(kernel, stride, strict=True)):
                return True
    return False
