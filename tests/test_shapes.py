"""Shape traces, the design document's layer table from the live model, and the resolution flow."""

from __future__ import annotations

import re

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from inception_lib import InceptionModuleF7, InceptionV2
from inception_lib.analysis.shapes import TableRow, layer_table, shape_flow, size_verdict, trace, weightless_copy
from inception_lib.analysis.summary import summarize
from inception_lib.draw.shapes import flow_figure, render_shape_flow, rows_html
from inception_lib.explorers.shapes import resolution

from .conftest import DESIGN_DOCUMENT


@pytest.fixture(scope="module")
def rows299(model3):
    return {r.name: r for r in trace(model3, (3, 299, 299))}


@pytest.fixture(scope="module")
def rows150(model3):
    return {r.name: r for r in trace(model3, (3, 150, 150))}


@pytest.mark.parametrize(
    ("name", "type_", "input_shape", "output_shape", "params"),
    [
        ("features.stem.0", "BasicConv2d", (3, 299, 299), (32, 149, 149), 928),
        ("features.stem.3", "MaxPool2d", (64, 147, 147), (64, 73, 73), 0),
        ("features.stem.6.conv", "Conv2d", (192, 35, 35), (288, 35, 35), 497_664),
        ("features.mixed_5.0", "InceptionModuleF5", (288, 35, 35), (288, 35, 35), 236_000),
        ("features.reduction_1.branch_3x3", "InceptionBranch", (288, 35, 35), (302, 17, 17), 193_116),
        ("features.aux.conv1", "BasicConv2d", (128, 5, 5), (768, 1, 1), 2_459_136),
        ("features.reduction_2", "GridReduction", (768, 17, 17), (1280, 8, 8), 822_572 + 697_980),
        ("features.mixed_7.1", "InceptionModuleF7", (2048, 8, 8), (2048, 8, 8), 6_076_800),
        ("fc", "Linear", (2048,), (3,), 6_147),
    ],
)
def test_known_rows_at_299(rows299, name, type_, input_shape, output_shape, params):
    row = rows299[name]
    assert (row.type, row.input_shape, row.output_shape, row.params) == (type_, input_shape, output_shape, params)


@pytest.mark.parametrize(
    ("name", "output_shape"),
    [
        ("features.stem.0", (32, 74, 74)),
        ("features.stem.5", (192, 16, 16)),
        ("features.reduction_1", (768, 7, 7)),
        ("features.mixed_7", (2048, 3, 3)),
    ],
)
def test_known_rows_at_150(rows150, name, output_shape):
    assert rows150[name].output_shape == output_shape


def test_aux_head_is_traced_only_where_it_can_run(rows299, rows150):
    assert "features.aux" in rows299
    assert not any(name.startswith("features.aux") for name in rows150)


def test_trace_totals_match_torchinfo(model3, rows299):
    stats = summarize(model3, (1, 3, 299, 299), depth=1)
    assert rows299[""].params == stats.total_params == 25_740_438
    assert rows299[""].mult_adds == stats.total_mult_adds


def test_container_mult_adds_are_the_sum_of_their_leaves(rows299):
    block = rows299["features.mixed_6.2"]
    inside = [r for n, r in rows299.items() if n.startswith("features.mixed_6.2.")]
    leaves = [r for r in inside if r.type in ("Conv2d", "BatchNorm2d")]
    assert block.mult_adds == sum(r.mult_adds for r in leaves) > 0
    conv = rows299["features.mixed_6.2.branch_nxn.1.conv"]  # 1x7, 160 -> 160 on 17x17
    assert conv.mult_adds == 7 * 160 * 160 * 17 * 17


def test_trace_leaves_the_module_untouched():
    module = InceptionModuleF7().train()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    rows = trace(module, (1280, 8, 8))
    assert module.training and next(module.parameters()).device.type == "cpu"
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key]), key  # BatchNorm statistics included
    assert rows[0].output_shape == (2048, 8, 8)


def test_weightless_copy_has_the_structure_but_no_weights():
    module = InceptionModuleF7()
    copy = weightless_copy(module)
    assert [n for n, _ in copy.named_modules()] == [n for n, _ in module.named_modules()]
    assert {p.device.type for p in copy.parameters()} == {"meta"}
    assert sum(p.numel() for p in copy.parameters()) == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(("shape", "words"), [((3, 60, 60), "60×60"), ((3, 74, 299), "74×299")])
def test_too_small_input_is_a_value_error(model3, shape, words):
    with pytest.raises(ValueError, match=f"input {words} is below the minimum of 75×75: features.reduction_2"):
        trace(model3, shape)


@pytest.mark.parametrize("shape", [(299, 299), (1, 3, 299, 299), (3, 0, 10), (3, 2.5, 299)])
def test_malformed_shape_is_a_value_error(model3, shape):
    with pytest.raises(ValueError, match="channels, height, width"):
        trace(model3, shape)


def _document_layer_table() -> list[TableRow]:
    text = DESIGN_DOCUMENT.read_text()
    section = text.split("## Structure", 1)[1].split("```", 1)[0]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines() if "|" in line]
    return [TableRow(*row) for row in cells[2:]]  # skip the header and the :---: rule


def test_layer_table_reproduces_the_design_document():
    model = InceptionV2(num_classes=1000, seed=0)  # the document's table is for ImageNet's 1000 classes
    ours, theirs = layer_table(model), _document_layer_table()
    assert len(ours) == len(theirs) == 13
    differing = [(a, b) for a, b in zip(ours, theirs, strict=True) if a != b]
    # The document (like the paper's Table 1) writes "conv" for the last stem layer, but that layer
    # keeps the 35x35 grid, which a 3x3 convolution can only do with padding.
    assert differing == [(TableRow("conv pad", "3x3/1", "192x35x35"), TableRow("conv", "3x3/1", "192x35x35"))]


def test_layer_table_at_another_size(model3, rows150):
    table = layer_table(model3, 150, rows=list(rows150.values()))
    assert [r.input_size for r in table[7:10]] == ["288x16x16", "768x7x7", "1280x3x3"]
    assert table[10] == TableRow("pool", "3x3", "2048x3x3")
    assert table[12] == TableRow("softmax", "classifier", "3x1")


@pytest.mark.parametrize("size", [299, 150, 75])
def test_shape_flow_agrees_with_the_trace(model3, rows299, rows150, size):
    rows = {299: rows299, 150: rows150}.get(size) or {r.name: r for r in trace(model3, (3, size, size))}
    for step in shape_flow(model3, size)[1:]:
        assert step.shape == rows[step.name].output_shape, step.name


def test_shape_flow_shows_where_a_small_input_breaks(model3):
    steps = {s.name: s.shape for s in shape_flow(model3, 60)}
    assert steps["features.reduction_1"] == (768, 2, 2)
    assert steps["features.reduction_2"][1:] == (0, 0)
    assert shape_flow(model3, (299, 150))[-1].shape == (2048, 8, 3)
    with pytest.raises(ValueError, match="positive"):
        shape_flow(model3, 0)


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (74, r"below the minimum of 75×75: features\.reduction_2"),
        (75, r"trunk runs \(final grid 1×1\).*needs 299×299"),
        (298, r"trunk runs \(final grid 7×7\)"),
        (299, r"every part runs.*final grid 8×8"),
    ],
)
def test_size_verdict_follows_the_minimum_size_rule(model3, size, words):
    assert re.search(words, size_verdict(model3, size))


def test_render_shape_flow_changes_with_size(model3):
    small, paper = render_shape_flow(model3, 60), render_shape_flow(model3, 299)
    assert small != paper
    assert "(empty)" in small and "(empty)" not in paper
    assert "288×35×35" in paper and "2048×8×8" in paper


def test_rows_html_escapes_and_filters():
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU()))
    rows = trace(module, (3, 8, 8))
    table = rows_html(rows, max_depth=1)
    assert "<td>4×6×6</td>" in table and "(all)" in table
    assert ">1</td>" in table and ">1.0</td>" not in table  # the inner ReLU is at depth 2
    assert table.count("<tr>") == 1 + 3


def test_flow_figure(model3):
    fig = flow_figure(shape_flow(model3, 299))
    assert isinstance(fig, Figure) and len(fig.axes) == 2


def test_resolution_explorer_follows_its_slider(model3):
    explorer = resolution(model3)
    assert "every part runs" in explorer.html.value
    explorer.controls["size"].value = 74  # what a user's drag does
    assert "below the minimum" in explorer.html.value
