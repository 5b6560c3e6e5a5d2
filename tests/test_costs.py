"""Costs from real layers: per branch, per module, per stage; the paper's factorization and grid-reduction claims."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure
from torch import nn

from inception_lib import GridReduction, InceptionModuleF5, InceptionModuleF6, InceptionModuleF7
from inception_lib.analysis.costs import ZERO, Cost, branch_costs, cost, stage_costs
from inception_lib.analysis.factorization import factorize, factorize_5x5, factorize_asymmetric
from inception_lib.analysis.reduction import grid_reduction_variants, narrowest_cut
from inception_lib.analysis.shapes import trace
from inception_lib.analysis.summary import summarize
from inception_lib.draw.costs import (
    factorization_figure,
    grid_reduction_figure,
    render_factorization,
    render_grid_reduction,
    stage_cost_figure,
)
from inception_lib.explorers import costs as cost_explorers


@pytest.mark.parametrize(("channels", "grid"), [(64, 35), (192, 17), (7, 5)])
def test_5x5_as_two_3x3_saves_28_percent(channels, grid):
    f = factorize_5x5(channels, grid)
    assert f.original_cost.mult_adds == 25 * channels * channels * grid * grid  # counted from the layer
    assert f.replacement_cost.mult_adds * 25 == f.original_cost.mult_adds * 18  # (9 + 9) / 25
    assert f.replacement_cost.params * 25 == f.original_cost.params * 18
    assert f.saving == pytest.approx(0.28)
    assert f.describe().startswith("5x5 → 3x3 + 3x3: 28.0% fewer mult-adds")


def test_3x3_as_1x3_plus_3x1_saves_a_third():
    f = factorize_asymmetric(3, channels=96, grid=17)
    assert f.replacement_cost.mult_adds * 9 == f.original_cost.mult_adds * 6
    assert f.saving == pytest.approx(1 / 3)


@pytest.mark.parametrize("n", [3, 5, 7, 9, 11, 15])
def test_n_by_n_as_1xn_plus_nx1_costs_2_over_n(n):
    f = factorize_asymmetric(n, channels=32, grid=17)
    assert f.original_cost.mult_adds == n * n * 32 * 32 * 17 * 17
    assert f.replacement_cost.mult_adds * n == f.original_cost.mult_adds * 2
    assert f.saving == pytest.approx(1 - 2 / n)


def test_3x3_as_two_2x2_is_rejected_with_a_reason():
    with pytest.raises(ValueError, match="odd sides"):
        factorize([(3, 3)], [(2, 2), (2, 2)])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: factorize_asymmetric(4), "odd"),
        (lambda: factorize_asymmetric(1), "odd"),
        (lambda: factorize_5x5(channels=0), "channels"),
        (lambda: factorize_5x5(grid=0), "grid"),
        (lambda: factorize([], [(3, 3)]), "non-empty"),
        (lambda: grid_reduction_variants(64, grid=2), "grid >= kernel"),
        (lambda: grid_reduction_variants(64, conv_width=0), "conv_width"),
        (lambda: branch_costs(nn.Conv2d(3, 3, 1), (3, 8, 8)), "InceptionBlock"),
        (lambda: stage_costs(trace(nn.Conv2d(3, 3, 1), (3, 8, 8))), "InceptionV2"),
        (lambda: narrowest_cut(nn.Conv2d(3, 3, 1), (3, 8, 8)), "InceptionBlock"),
    ],
)
def test_bad_input_is_a_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


BLOCKS = [
    (InceptionModuleF5(), (288, 35, 35), 236_000),
    (InceptionModuleF6(width=160), (768, 17, 17), 1_691_008),
    (InceptionModuleF7(), (1280, 8, 8), 5_044_608),
    (GridReduction(384, (384, 384), (384, 384)), (384, 35, 35), 4_280_064),
]


@pytest.mark.parametrize(("block", "shape", "params"), BLOCKS, ids=["F5", "F6", "F7", "GridReduction"])
def test_branch_costs_add_up_to_the_module_and_to_torchinfo(block, shape, params):
    branches = branch_costs(block, shape)
    assert list(branches) == [name for name, _ in block.named_branches()]
    total = sum(branches.values(), ZERO)
    stats = summarize(block, (1, *shape))
    assert total == cost(block, shape) == Cost(stats.total_params, stats.total_mult_adds)
    assert total.params == params == sum(p.numel() for p in block.parameters())


def test_f7_forked_branches_include_their_arms():
    branches = branch_costs(InceptionModuleF7(), (1280, 8, 8))
    # 1x1 (1280 -> 384) then the 1x3 and 3x1 arms (384 -> 384 each), convolutions plus BatchNorm.
    arms = 2 * (3 * 384 * 384 + 2 * 384)
    assert branches["branch_3x3"].params == 1280 * 384 + 2 * 384 + arms


def test_pool_only_branch_costs_nothing():
    assert branch_costs(GridReduction(), (288, 35, 35))["branch_pool"] == ZERO


def test_stage_costs_cover_the_whole_network(model3):
    rows = trace(model3, (3, 299, 299))
    stages = stage_costs(rows)
    assert list(stages) == [
        "stem", "mixed_5", "reduction_1", "mixed_6", "aux", "reduction_2", "mixed_7", "classifier"
    ]  # fmt: skip
    # test_shapes checks the trace's totals against torchinfo on the real model; here they must add up.
    assert sum(stages.values(), ZERO) == Cost(rows[0].params, rows[0].mult_adds)
    assert rows[0].params == 25_740_438 and f"{rows[0].mult_adds / 1e9:.2f}" == "6.20"
    assert stages["stem"].params == 711_872
    assert stages["classifier"].params == 6_147
    assert isinstance(stage_cost_figure(stages), Figure)


def test_grid_reduction_variants_figure_9_and_10():
    k, d = 320, 35
    pool_conv, conv_pool, parallel = grid_reduction_variants(k, d)
    figures = [v.figure for v in (pool_conv, conv_pool, parallel)]
    assert figures == ["Figure 9, left", "Figure 9, right", "Figure 10, right panel"]
    assert pool_conv.output_shape == conv_pool.output_shape == parallel.output_shape == (2 * k, 17, 17)
    # The convolution runs on the small grid, on the large grid, or (k filters only) stride 2.
    assert pool_conv.cost.mult_adds == 9 * k * 2 * k * 17 * 17
    assert conv_pool.cost.mult_adds == 9 * k * 2 * k * 35 * 35
    assert parallel.cost.mult_adds * 2 == pool_conv.cost.mult_adds
    assert conv_pool.cost.mult_adds / pool_conv.cost.mult_adds == pytest.approx(35**2 / 17**2)  # about 4x
    # Pooling first squeezes the representation to half of what comes out: the bottleneck.
    assert pool_conv.narrowest == k * 17 * 17 == parallel.narrowest // 2
    assert conv_pool.narrowest == parallel.narrowest == 2 * k * 17 * 17


def test_grid_reduction_variants_carry_their_layers():
    for v in grid_reduction_variants(64, 17):
        assert cost(v.module, (64, 17, 17)) == v.cost
        assert all(p.is_meta for p in v.module.parameters())


def test_narrowest_cut_crosses_every_branch_once():
    # reduction_1: 1x1 -> 3x3 -> 3x3/2 (narrowest after the stride-2 3x3), 1x1 -> 3x3/2 (after the
    # 1x1), pool: each branch's smallest tensor, summed; below the 768x17x17 output.
    assert narrowest_cut(GridReduction(), (288, 35, 35)) == 178 * 17 * 17 + 64 * 35 * 35 + 288 * 17 * 17
    # reduction_2: every branch is narrowest at its output, so the cut is the output itself.
    assert narrowest_cut(GridReduction(768, (192, 194), (192, 318)), (768, 17, 17)) == 1280 * 8 * 8
    # A block that narrows everything hard is cut at its input instead, if that is smaller.
    assert narrowest_cut(InceptionModuleF5(8, (64, 96), (64, 64), 64, 64), (8, 9, 9)) == 8 * 9 * 9
    # F7: the forked arms count together, after the fork.
    assert narrowest_cut(InceptionModuleF7(), (1280, 8, 8)) == (384 + 384 + 192 + 320) * 8 * 8


def test_grid_reduction_with_the_models_widths():
    pool_conv, _, parallel = grid_reduction_variants(288, 35, conv_width=480)
    assert parallel.output_shape == (768, 17, 17) == pool_conv.output_shape
    # The model's own reduction (1x1 reductions in front of its 3x3s) is cheaper still.
    assert cost(GridReduction(), (288, 35, 35)).mult_adds < parallel.cost.mult_adds


def test_renders_change_with_controls():
    assert render_grid_reduction(320, 35, 320) != render_grid_reduction(320, 35, 160)
    assert render_grid_reduction(64, 17, 64) != render_grid_reduction(320, 35, 320)
    html = render_factorization(7, 192, 17)
    assert "7x7 → 1x7 + 7x1: 71.4% fewer mult-adds" in html
    assert html != render_factorization(5, 192, 17)
    assert "13×13" in render_factorization(13, 64, 17)  # rows extend to the chosen n


def test_figures():
    assert len(grid_reduction_figure(grid_reduction_variants()).axes) == 2
    assert isinstance(factorization_figure([factorize_5x5(), factorize_asymmetric(3)]), Figure)


@pytest.mark.parametrize("name", sorted(cost_explorers.EXPLORERS))
def test_every_control_of_the_cost_explorers_changes_the_view(name):
    explorer = cost_explorers.EXPLORERS[name]()
    for control_name, control in explorer.controls.items():
        before = explorer.html.value
        control.value = control.min if control.value != control.min else control.max
        assert explorer.html.value != before, control_name
