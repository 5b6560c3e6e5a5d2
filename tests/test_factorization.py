"""Factorization tools: conv stacks of any widths, per-layer traffic, rank-1 kernels, padding share,
and the notebook 04 explorer."""

from __future__ import annotations

import pytest
import torch

from inception_lib.analysis.costs import cost
from inception_lib.analysis.factorization import (
    check_factorization,
    conv_stack,
    convolve_factorized,
    convolve_full,
    layer_traffic,
    padding_share,
    rank_one_factors,
)
from inception_lib.draw.costs import render_asymmetric
from inception_lib.explorers.factorization import asymmetric


def test_one_by_n_then_n_by_one_is_the_outer_product_kernel():
    g = torch.Generator().manual_seed(1)
    image, column, row = torch.randn(12, 15, generator=g), torch.randn(5, generator=g), torch.randn(5, generator=g)
    torch.testing.assert_close(convolve_factorized(image, column, row), convolve_full(image, torch.outer(column, row)))


def test_rank_one_kernels_factor_exactly_and_generic_ones_do_not():
    g = torch.Generator().manual_seed(2)
    image = torch.randn(17, 17, generator=g)
    kernel = torch.outer(torch.randn(7, generator=g), torch.randn(7, generator=g))
    column, row = rank_one_factors(kernel)
    torch.testing.assert_close(torch.outer(column, row), kernel)
    exact = check_factorization(kernel, image)
    assert exact.rank == 1 and exact.max_error < 1e-5
    generic = check_factorization(torch.randn(7, 7, generator=g), image)
    assert generic.rank == 7 and generic.max_error > 0.1
    assert generic.singular_values == tuple(sorted(generic.singular_values, reverse=True))
    rank_two = torch.outer(*torch.randn(2, 3, generator=g)) + torch.outer(*torch.randn(2, 3, generator=g))
    assert check_factorization(rank_two, image).rank == 2
    with pytest.raises(ValueError, match="square n x n kernel with odd n"):
        rank_one_factors(torch.zeros(4, 4))


def test_conv_stack_takes_one_width_or_one_per_layer():
    same = conv_stack([(3, 3), (3, 3)], 8)
    assert [(c.in_channels, c.out_channels) for c in same] == [(8, 8), (8, 8)]
    widening = conv_stack([(3, 3), (3, 3)], [64, 96, 96])
    assert [(c.in_channels, c.out_channels) for c in widening] == [(64, 96), (96, 96)]
    assert cost(widening, (64, 35, 35)).mult_adds == 9 * (64 + 96) * 96 * 35 * 35
    for bad in ([64, 96], [64, 0, 96], 0):
        with pytest.raises(ValueError, match="channels must be >= 1, one width or 3"):
            conv_stack([(3, 3), (3, 3)], bad)


def test_layer_traffic_counts_input_weights_and_output_of_each_layer():
    (single,) = layer_traffic(conv_stack([(5, 5)], [64, 96]), (64, 35, 35))
    assert single.values == 64 * 35 * 35 + 25 * 64 * 96 + 96 * 35 * 35
    assert single.mult_adds == 25 * 64 * 96 * 35 * 35 and round(single.intensity, 1) == 538.2
    first, second = layer_traffic(conv_stack([(3, 3), (3, 3)], [64, 96, 96]), (64, 35, 35))
    assert first.values - 9 * 64 * 96 == 64 * 35 * 35 + 96 * 35 * 35  # the middle map is written ...
    assert second.values - 9 * 96 * 96 == 2 * 96 * 35 * 35  # ... and read back
    assert first.intensity < single.intensity and second.intensity < single.intensity
    # A module without children is its own only layer; containers are not counted twice.
    assert [t.name for t in layer_traffic(torch.nn.Conv2d(3, 4, 3), (3, 8, 8))] == [""]
    pool_conv = torch.nn.Sequential(torch.nn.MaxPool2d(3, 2), torch.nn.Conv2d(4, 8, 1))
    assert [(t.name, t.mult_adds) for t in layer_traffic(pool_conv, (4, 9, 9))] == [("0", 0), ("1", (4 * 8 + 8) * 16)]


def test_padding_share_counts_taps_outside_the_grid():
    assert padding_share(1, 3) == 2 / 3  # one position: both outer taps are padding
    assert padding_share(17, 1) == 0
    assert padding_share(8, 7) == (3 + 2 + 1 + 0 + 0 + 1 + 2 + 3) / (8 * 7)
    assert padding_share(35, 7) < padding_share(17, 7) < padding_share(8, 7)
    with pytest.raises(ValueError, match="odd n"):
        padding_share(17, 4)


def test_render_shows_cost_and_the_same_field():
    html = render_asymmetric(7)
    assert "71.4% fewer mult-adds" in html and "7×1 reaches 7×7" in html and "1×7 reaches 1×7" in html
    assert html != render_asymmetric(5)
    with pytest.raises(ValueError, match="odd int"):
        render_asymmetric(4)


def test_explorer_rerenders_when_n_moves():
    explorer = asymmetric()
    first = explorer.html.value
    explorer.controls["n"].value = 3
    assert explorer.html.value != first and "33.3%" in explorer.html.value
