"""Parity checks: a module written from scratch is recognised as the library's when it is, and each kind
of mistake (a wrong width, a wrong padding, a wrong order, a different BatchNorm epsilon) is caught."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inception_lib import InceptionModuleF5
from inception_lib.analysis.parity import compare, load_in_order, weighted_layers


class Conv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, padding: int = 0, eps: float = 1e-3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class MyF5(nn.Module):
    """F5 with a few knobs for writing it wrong."""

    def __init__(self, cin: int = 16, pad: int = 1, eps: float = 1e-3, swap: bool = False, width: int = 12) -> None:
        super().__init__()
        self.a = nn.Sequential(Conv(cin, 8, 1, eps=eps), Conv(8, width, 3, pad, eps), Conv(width, 12, 3, 1, eps))
        self.b = nn.Sequential(Conv(cin, 6, 1, eps=eps), Conv(6, 8, 3, 1, eps))
        self.pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), Conv(cin, 8, 1, eps=eps))
        self.one = Conv(cin, 8, 1, eps=eps)
        self.swap = swap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [self.a(x), self.b(x), self.pool(x), self.one(x)]
        if self.swap:
            parts[2], parts[3] = parts[3], parts[2]
        return torch.cat(parts, dim=1)


SHAPE = (16, 9, 9)


@pytest.fixture
def reference() -> InceptionModuleF5:
    torch.manual_seed(0)
    module = InceptionModuleF5(16, (8, 12), (6, 8), 8, 8)
    with torch.no_grad():
        module.train()(torch.randn(4, *SHAPE))  # non-trivial running statistics
    return module.eval()


def test_a_faithful_module_matches_bit_for_bit(reference):
    mine = load_in_order(MyF5(), reference)
    result = compare(mine, reference, SHAPE)
    assert result.ok and result.same_output and result.max_difference == 0
    assert result.layers == len(weighted_layers(reference, SHAPE)) == 14
    assert "the same output (torch.equal)" in str(result)
    assert mine.training  # compare leaves the modules' modes alone


def test_wrong_order_of_concatenation_changes_only_the_output(reference):
    result = compare(load_in_order(MyF5(swap=True), reference), reference, SHAPE)
    assert result.first_mismatch is None and not result.same_output and not result.ok


def test_a_different_batchnorm_epsilon_is_not_equal(reference):
    result = compare(load_in_order(MyF5(eps=1e-5), reference), reference, SHAPE)
    assert not result.same_output and 0 < result.max_difference < 0.1


def test_wrong_padding_shows_as_a_layer_mismatch(reference):
    mine = MyF5(pad=0)  # the first 3×3 of branch a shrinks the grid, the concatenation fails
    load_in_order(mine, reference)  # same weights' shapes: loading works
    with pytest.raises(RuntimeError):
        compare(mine, reference, SHAPE)


def test_wrong_widths_are_refused_when_loading(reference):
    with pytest.raises(ValueError, match=r"a\.1\.conv\.weight has shape \(10, 8, 3, 3\)"):
        load_in_order(MyF5(width=10), reference)
    with pytest.raises(ValueError, match="state entries"):
        load_in_order(nn.Sequential(Conv(16, 8, 1)), reference)
