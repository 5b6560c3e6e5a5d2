"""Lineage: torchvision's inception_v3 written as layers reproduces torchvision's published figures, the
layer interpreter agrees with torchinfo on this course's modules, the name and cost tables are computed
from the live model, and the whole-network diagram is drawn from it."""

from __future__ import annotations

import pytest
import torch

from inception_lib import (
    GridReduction,
    InceptionAux,
    InceptionModuleF5,
    InceptionModuleF6,
    InceptionModuleF7,
    InceptionV2,
)
from inception_lib.analysis.costs import cost, inference_mult_adds
from inception_lib.analysis.layer_specs import (
    Fork,
    Linear,
    Pool,
    SpecBlock,
    conv,
    run_block,
    torchvision_inception_v3,
)
from inception_lib.analysis.lineage import PAIRS, TABLE_3, cost_table, name_table
from inception_lib.analysis.outline import network_outline
from inception_lib.draw.lineage import cost_table_html, name_table_html, table3_html
from inception_lib.draw.network import draw_network

# torchvision's published figures for Inception_V3_Weights.IMAGENET1K_V1 (torchvision/models/inception.py).
TORCHVISION_NUM_PARAMS = 27_161_264
TORCHVISION_OPS = 5.713


@pytest.fixture(scope="module")
def meta_model() -> InceptionV2:
    return InceptionV2(num_classes=1000, device="meta")


@pytest.fixture(scope="module")
def rows(meta_model):
    return name_table(meta_model)


def test_the_transcription_reproduces_torchvisions_published_parameters_and_ops():
    net = torchvision_inception_v3(1000)
    assert net.cost(with_aux=True).params == TORCHVISION_NUM_PARAMS
    assert round(net.cost(with_aux=False).mult_adds / 1e9, 3) == TORCHVISION_OPS
    shapes = {block.name: result.shape for block, result in net.run()}
    assert shapes["maxpool2"] == (192, 35, 35) and shapes["Mixed_5b"] == (256, 35, 35)
    assert shapes["Mixed_6e"] == (768, 17, 17) and shapes["Mixed_7c"] == (2048, 8, 8) and shapes["fc"] == (1000,)


def _f5_spec() -> SpecBlock:
    return SpecBlock(
        "F5",
        "InceptionModuleF5",
        (
            (conv(64, 1), conv(96, 3, padding=1), conv(96, 3, padding=1)),
            (conv(48, 1), conv(64, 3, padding=1)),
            (Pool("max", 3, 1, 1), conv(64, 1)),
            (conv(64, 1),),
        ),
    )


def _f7_spec() -> SpecBlock:
    fork = Fork(((conv(384, (1, 3), padding=(0, 1)),), (conv(384, (3, 1), padding=(1, 0)),)))
    return SpecBlock(
        "F7",
        "InceptionModuleF7",
        (
            (conv(448, 1), conv(384, 3, padding=1), fork),
            (conv(384, 1), fork),
            (Pool("max", 3, 1, 1), conv(192, 1)),
            (conv(320, 1),),
        ),
    )


def _f6_spec(n: int) -> SpecBlock:
    row, col = {"kernel": (1, n), "padding": (0, n // 2)}, {"kernel": (n, 1), "padding": (n // 2, 0)}
    return SpecBlock(
        "F6",
        "InceptionModuleF6",
        (
            (conv(160, 1), conv(160, **row), conv(160, **col), conv(160, **row), conv(192, **col)),
            (conv(160, 1), conv(160, **row), conv(192, **col)),
            (Pool("max", 3, 1, 1), conv(192, 1)),
            (conv(192, 1),),
        ),
    )


REDUCTION = SpecBlock(
    "reduction",
    "GridReduction",
    (
        (conv(64, 1), conv(178, 3, padding=1), conv(178, 3, stride=2)),
        (conv(64, 1), conv(302, 3, stride=2)),
        (Pool("max", 3, 2),),
    ),
)
AUX = SpecBlock("aux", "InceptionAux", ((Pool("avg", 5, 3), conv(128, 1), conv(768, 5), Linear(1000)),))


@pytest.mark.parametrize(
    ("spec", "module", "shape"),
    [
        (_f5_spec(), InceptionModuleF5(), (288, 35, 35)),
        (_f6_spec(7), InceptionModuleF6(), (768, 17, 17)),
        (_f6_spec(3), InceptionModuleF6(n=3), (768, 17, 17)),
        (_f7_spec(), InceptionModuleF7(), (1280, 8, 8)),
        (REDUCTION, GridReduction(), (288, 35, 35)),
        (AUX, InceptionAux(), (768, 17, 17)),
    ],
    ids=["F5", "F6 n=7", "F6 n=3", "F7", "GridReduction", "aux"],
)
def test_the_interpreter_counts_like_torchinfo(spec, module, shape):
    result = run_block(spec, shape)
    assert result.cost == cost(module, shape)
    with torch.no_grad():
        expected = module.eval()(torch.zeros(1, *shape)).shape[1:]
    assert result.shape == tuple(expected)


def test_branches_on_different_grids_and_too_small_inputs_are_refused():
    skewed = SpecBlock("bad", "X", ((conv(8, 3, stride=2),), (conv(8, 3, padding=1),)))
    with pytest.raises(ValueError, match="different grids"):
        run_block(skewed, (3, 9, 9))
    with pytest.raises(ValueError, match="too small"):
        run_block(SpecBlock("tiny", "X", ((conv(8, 5),),)), (3, 4, 4))
    with pytest.raises(ValueError, match="num_classes"):
        torchvision_inception_v3(0)


def test_name_table_covers_both_networks_exactly_once(meta_model, rows):
    assert len(rows) == len(PAIRS)
    assert sum(r.course.params for r in rows) == sum(p.numel() for p in meta_model.parameters())
    assert sum(r.torchvision.params for r in rows) == TORCHVISION_NUM_PARAMS
    assert sum(r.torchvision.mult_adds for r in rows) == torchvision_inception_v3().cost(with_aux=True).mult_adds


def test_name_table_differences_are_computed_from_both_sides(rows):
    by_name = {r.torchvision.names[0]: r for r in rows}
    assert by_name["Conv2d_1a_3x3"].differences() == []
    assert by_name["AuxLogits"].differences() == []
    f5 = by_name["Mixed_5b"]
    assert f5.torchvision.label == "Mixed_5b…Mixed_5d" and f5.course.count == 3
    assert "5×5 only in torchvision" in f5.differences()
    assert "pools: max here, avg in torchvision" in f5.differences()
    f6 = by_name["Mixed_6b"].differences()
    assert f6[0] == "5 modules here, 4 in torchvision" and f6[-1] == "+1,691,008 parameters here"
    assert "the same branch widths, concatenated in another order" in by_name["Mixed_7b"].differences()
    assert by_name["maxpool2"].differences()[0] == "conv 3×3/1 pad here, max pool 3×3/2 in torchvision"


def test_name_table_follows_the_model_it_is_given():
    four = name_table(InceptionV2(num_classes=1000, f6_widths=(128, 160, 160, 192), device="meta"))
    f6 = next(r for r in four if r.torchvision.names[0] == "Mixed_6b")
    assert f6.differences() == ["pools: max here, avg in torchvision"]
    with pytest.raises(ValueError, match="auxiliary head"):
        name_table(InceptionV2(aux_logits=False, device="meta"))


def test_cost_table_computes_this_course_and_torchvision(meta_model):
    figures = cost_table(1000)
    ours, plain, tv_aux, tv_plain, published = figures[:5]
    aux = sum(p.numel() for p in meta_model.features.aux.parameters())
    assert tv_plain.params == tv_aux.params - aux  # the two aux heads are built alike
    assert ours.params == sum(p.numel() for p in meta_model.parameters()) and plain.params == ours.params - aux
    assert plain.mult_adds == inference_mult_adds(meta_model) < ours.mult_adds
    assert (tv_aux.params, published.params) == (TORCHVISION_NUM_PARAMS, TORCHVISION_NUM_PARAMS)
    assert all(f.computed for f in figures[:4]) and not any(f.computed for f in figures[4:])
    assert all(f.source for f in figures)
    assert cost_table(3)[0].params < ours.params


def test_tables_render_every_row():
    rows = name_table(InceptionV2(num_classes=3, device="meta"))
    page = name_table_html(rows)
    assert page.count("<tr>") == len(rows) + 1 and "Mixed_6b…Mixed_6e" in page and "same layers" in page
    assert table3_html(TABLE_3).count("†") == sum(not r.confirmed for r in TABLE_3)
    assert "&lt; 25" in cost_table_html(cost_table(3))


def test_table_3_ends_with_the_abstracts_inception_v3():
    last = TABLE_3[-1]
    assert last.confirmed and (last.top1, last.top5) == (21.2, 5.6)
    assert [r.top1 for r in TABLE_3] == sorted((r.top1 for r in TABLE_3), reverse=True)


def test_outline_is_the_whole_network(meta_model):
    steps = network_outline(meta_model)
    assert sum(s.params for s in steps) == sum(p.numel() for p in meta_model.parameters())
    names = [s.name for s in steps]
    assert names.index("features.aux") == names.index("features.mixed_6") + 1
    assert [s.source for s in steps if s.kind == "stage"] == [
        "Figure 5",
        "Figure 10",
        "Figure 6",
        "Figure 10",
        "Figure 7",
    ]
    small = network_outline(meta_model, 150)
    assert "features.aux" not in {s.name for s in small} and small[-2].shape == (2048, 3, 3)


def test_network_diagram_is_drawn_from_the_model():
    model = InceptionV2(num_classes=3, f6_widths=(128, 160), device="meta")
    fig = draw_network(model)
    texts = {t.get_gid(): t.get_text() for t in fig.axes[0].texts if t.get_gid()}
    assert texts["features.mixed_6"].startswith("2 × F6") and "Figure 6" in texts["features.mixed_6"]
    assert "features.aux" in texts and "features.stem.0" in texts
    total = sum(p.numel() for p in model.parameters())
    assert f"{total:,} parameters" in fig._suptitle.get_text()
    assert "features.aux" not in {t.get_gid() for t in draw_network(model, 150).axes[0].texts}


def test_kernels_of_plain_layers_are_compared_as_layers(rows):
    stem_4 = next(r for r in rows if r.torchvision.names == ("Conv2d_3b_1x1",))
    assert stem_4.course.kind == "conv 3×3/1" and stem_4.torchvision.kind == "conv 1×1/1"
    assert stem_4.differences()[0] == "conv 3×3/1 here, conv 1×1/1 in torchvision"
