"""Module diagrams are drawn from the live module: every conv, its kernel, shapes, forks, concat."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from inception_lib.analysis.branches import block_input_shapes, branch_summary, module_graph
from inception_lib.draw.diagrams import draw_module
from inception_lib.model import (
    BasicConv2d,
    GridReduction,
    InceptionBlock,
    InceptionBranch,
    InceptionModuleF5,
    InceptionModuleF6,
    InceptionModuleF7,
)


class TinyForkBlock(InceptionBlock):
    """A block no figure of the paper has: an avg-pool branch and a three-armed fork."""

    forks = {"branch_fork": ("arm_a", "arm_b", "arm_c")}  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__()
        self.branch_fork = InceptionBranch(BasicConv2d(8, 4, 1))
        self.arm_a = BasicConv2d(4, 3, (1, 5), padding=(0, 2))
        self.arm_b = BasicConv2d(4, 3, (5, 1), padding=(2, 0))
        self.arm_c = BasicConv2d(4, 2, 3, padding=1)
        self.branch_pool = InceptionBranch(nn.AvgPool2d(3, stride=1, padding=1), BasicConv2d(8, 5, 1))


CASES = {
    "F5": (InceptionModuleF5, (288, 35, 35)),
    "F6 n=3": (lambda: InceptionModuleF6(n=3), (768, 17, 17)),
    "F6 n=7": (InceptionModuleF6, (768, 17, 17)),
    "F7": (InceptionModuleF7, (1280, 8, 8)),
    "GridReduction": (GridReduction, (288, 35, 35)),
    "custom": (TinyForkBlock, (8, 9, 9)),
}


@pytest.fixture(scope="module", params=list(CASES))
def drawn(request):
    make, shape = CASES[request.param]
    module = make()
    torch.manual_seed(0)
    with torch.no_grad():
        output = module.eval()(torch.zeros(1, *shape))
    fig = draw_module(module, shape)
    texts = {t.get_gid(): t.get_text() for t in fig.axes[0].texts if t.get_gid()}
    return module, shape, output, texts


def test_every_conv_is_drawn_with_its_kernel_and_output_shape(drawn):
    module, _, _, texts = drawn
    convs = [(name, m) for name, m in module.named_modules() if isinstance(m, BasicConv2d)]
    assert convs
    drawn_convs = [gid for gid, text in texts.items() if " conv\n" in text]
    assert sorted(drawn_convs) == sorted(name for name, _ in convs)
    for name, block in convs:
        kh, kw = block.conv.kernel_size
        title, *rest = texts[name].split("\n")
        assert title == f"{kh}×{kw} conv"
        assert rest[-1].split("×")[0] == str(block.out_channels)


def test_concat_box_shows_the_real_output_shape(drawn):
    _, shape, output, texts = drawn
    assert texts["input"] == "input\n" + "×".join(map(str, shape))
    assert texts["concat"] == "concat\n" + "×".join(map(str, output.shape[1:]))


def test_stride_and_padding_labels():
    texts = {b.name: b.label for b in module_graph(GridReduction(), (288, 35, 35)).boxes}
    assert texts["branch_3x3_double.2"] == "3×3 conv\nstride 2\n178×17×17"
    assert texts["branch_3x3_double.1"] == "3×3 conv\npad 1\n178×35×35"
    assert texts["branch_pool.0"] == "3×3 max pool\nstride 2\n288×17×17"
    f6 = {b.name: b.label for b in module_graph(InceptionModuleF6(n=5), (768, 17, 17)).boxes}
    assert f6["branch_nxn.1"] == "1×5 conv\npad 0×2\n160×17×17"
    assert f6["branch_nxn.2"] == "5×1 conv\npad 2×0\n192×17×17"


def test_f7_forks_split_side_by_side_and_rejoin_at_the_concat():
    graph = module_graph(InceptionModuleF7(), (1280, 8, 8))
    index = {b.name: i for i, b in enumerate(graph.boxes)}
    concat = len(graph.boxes) - 1
    for stem, arms in (("branch_3x3_double.1", "branch_3x3_double"), ("branch_3x3.0", "branch_3x3")):
        ends = [index[f"{arms}_{kind}.0.0"] for kind in ("1x3", "3x1")]
        assert all((index[stem], end) in graph.edges for end in ends)
        assert all((end, concat) in graph.edges for end in ends)
        assert graph.boxes[ends[0]].x != graph.boxes[ends[1]].x
    assert graph.width == 6  # two forks of two arms, plus the pool and 1x1 branches
    assert sum(1 for _, child in graph.edges if child == concat) == 6


def test_branch_summary_adds_up_to_the_module():
    module = InceptionModuleF7()
    rows = branch_summary(module, (1280, 8, 8))
    assert [r.name for r in rows] == [name for name, _ in module.named_branches()]
    assert sum(r.params for r in rows) == sum(p.numel() for p in module.parameters()) == 5_044_608
    assert sum(r.shape[0] for r in rows) == module.out_channels == 2048
    assert rows[0].layers == "1×1 conv → 3×3 conv → [1×3 conv | 3×1 conv]"


def test_drawing_leaves_the_module_untouched():
    module = InceptionModuleF5().train()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    draw_module(module, (1, 288, 35, 35))
    assert module.training
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="with 288 channels"):
        draw_module(InceptionModuleF5(), (768, 17, 17))
    with pytest.raises(ValueError, match="expected an InceptionBlock"):
        draw_module(nn.Conv2d(3, 3, 1), (3, 8, 8))  # type: ignore[arg-type]


def test_block_input_shapes_follow_the_layer_table(model3):
    shapes = block_input_shapes(model3)
    assert shapes["features.mixed_5.0"] == (288, 35, 35)
    assert shapes["features.reduction_1"] == (288, 35, 35)
    assert shapes["features.mixed_6.4"] == (768, 17, 17)
    assert shapes["features.reduction_2"] == (768, 17, 17)
    assert shapes["features.mixed_7.0"] == (1280, 8, 8) and shapes["features.mixed_7.1"] == (2048, 8, 8)
    assert len(shapes) == 12
