"""Analytic receptive fields: the Distill article's worked examples, multi-branch graphs, per-axis
kernels, strides, dilation, alignment, models other than ours, and errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inception_lib import InceptionModuleF6, InceptionModuleF7, InceptionV2
from inception_lib.analysis.resolution import low_resolution_variant
from inception_lib.analysis.rf import Box, ReceptiveField, analytic_receptive_fields
from inception_lib.draw.rf import growth_figure


def conv(k, s=1, p=0, d=1) -> nn.Conv2d:
    return nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)


class TwoPaths(nn.Module):
    """Distill's two-path examples: two chains summed."""

    def __init__(self, left: nn.Module, right: nn.Module) -> None:
        super().__init__()
        self.left, self.right = left, right

    def forward(self, x):
        return self.left(x) + self.right(x)


class UnequalBranches(nn.Module):
    """An Inception-style block with three branches of very different reach, concatenated."""

    def __init__(self) -> None:
        super().__init__()
        self.one = conv(1)
        self.five = nn.Sequential(conv(3, p=1), nn.ReLU(), conv(3, p=1))
        self.pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv(1))

    def forward(self, x):
        return torch.cat([self.one(x), self.five(x), self.pool(x)], dim=1)


class TorchvisionStyle(nn.Module):
    """What torchvision's Inception3 / ResNet do: functional pooling, a reused ReLU, a residual sum,
    a classifier head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 7, stride=2, padding=3)
        self.relu = nn.ReLU()
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        x = F.max_pool2d(self.relu(self.stem(x)), kernel_size=3, stride=2, padding=1)
        y = self.relu(x + self.b(self.relu(self.a(x))))
        y = torch.cat([y, F.avg_pool2d(x, 3, stride=1, padding=1)], 1)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


def test_distill_single_path_region():
    """Distill, "Computing receptive field region": k=3 s=3 p=1 then k=2 s=1 on 8 samples gives
    u0 = -1, v0 = 4 for the first output feature; closed form r0 = (3-1)*1 + (2-1)*3 + 1 = 6."""
    rfs = analytic_receptive_fields(nn.Sequential(conv(3, s=3, p=1), conv(2)), 8)
    field = rfs["1"]
    assert field == ReceptiveField(size=(6, 6), jump=(3, 3), start=(-1, -1), grid=(2, 2))
    assert field.padding == (1, 1)
    assert field.box(0, 0) == Box(-1, -1, 4, 4)
    assert rfs.box("1", 0, 0) == Box(0, 0, 4, 4)  # clipped to the image
    assert field.center(1, 0) == (4.5, 1.5)


def test_distill_aligned_two_paths():
    """Distill's aligned example: RF 3, effective stride 4, effective padding 1."""
    model = TwoPaths(conv(1, s=4), nn.Sequential(conv(3, s=2, p=1), conv(1, s=2)))
    rfs = analytic_receptive_fields(model, 8)
    assert rfs.output == ReceptiveField(size=(3, 3), jump=(4, 4), start=(-1, -1), grid=(2, 2))
    branches = rfs.branches()
    assert list(branches) == ["left", "right"]
    assert branches["left"].size == (1, 1) and branches["right"].size == (3, 3)
    assert branches["left"].center() == branches["right"].center() == (0.0, 0.0)
    assert rfs.misaligned() == []


def test_distill_misaligned_two_paths_is_flagged():
    """Distill's alignment-issue example: padding on one path only; the second output feature
    uses 6 input samples and the third only 5."""
    model = TwoPaths(conv(5, s=2, p=2), nn.Sequential(conv(3), conv(3)))
    rfs = analytic_receptive_fields(model, 8)
    assert not rfs.output.aligned
    assert rfs.misaligned() == ["add"]
    left, right = rfs.branches().values()
    assert (left.size, left.jump, left.start) == ((5, 5), (2, 2), (-2, -2))
    assert (right.size, right.jump, right.start) == ((5, 5), (1, 1), (0, 0))

    def samples_used(unit: int) -> int:
        a, b = left.box(0, unit).clip(8, 8), right.box(0, unit).clip(8, 8)
        return max(a.right, b.right) - min(a.left, b.left) + 1

    assert [samples_used(1), samples_used(2)] == [6, 5]


class Shifted(nn.Module):
    """Two 3x3 branches of equal stride, one padded on the top/left only: centres one pixel apart."""

    def __init__(self) -> None:
        super().__init__()
        self.centred = conv(3, p=1)
        self.shifted = nn.Sequential(nn.ZeroPad2d((2, 0, 2, 0)), conv(3))

    def forward(self, x):
        return torch.cat([self.centred(x), self.shifted(x)], dim=1)


def test_misaligned_concatenation_with_equal_strides():
    rfs = analytic_receptive_fields(Shifted(), 9)
    assert rfs.misaligned() == ["cat"]
    branches = rfs.branches()
    assert branches["centred"].start == (-1, -1) and branches["shifted"].start == (-2, -2)
    assert branches["centred"].center() != branches["shifted"].center()
    # Equal jumps: the union of both regions is the same for every unit, 4 wide.
    assert rfs.output == ReceptiveField((4, 4), (1, 1), (-2, -2), (9, 9), aligned=False)


def test_unequal_branches_take_the_largest_field_not_the_sum():
    """A chain-summing tool (torchscan) adds all layers of all branches: 1 + 2 + 2 + 2 = 7."""
    rfs = analytic_receptive_fields(UnequalBranches(), 16)
    sizes = {name: f.size for name, f in rfs.branches().items()}
    assert sizes == {"one": (1, 1), "five": (5, 5), "pool": (3, 3)}
    assert rfs.output.size == (5, 5) != (7, 7)
    assert rfs.output.start == (-2, -2) and rfs.output.aligned


def test_asymmetric_kernels_are_tracked_per_axis():
    """A tool reading only the first kernel dimension would call a 1x7 convolution 1x1."""
    rfs = analytic_receptive_fields(nn.Sequential(conv((1, 7), p=(0, 3)), conv((7, 1), p=(3, 0))), 17)
    assert rfs["0"].size == (1, 7) and rfs["0"].start == (0, -3)
    assert rfs["1"].size == (7, 7) and rfs["1"].start == (-3, -3)


def test_strides_and_dilation_match_the_closed_form():
    """Distill's closed forms: r0 = sum (k_l - 1) prod_{i<l} s_i + 1 and P0 = sum p_l prod_{i<l} s_i,
    with the dilated kernel d(k - 1) + 1, per axis."""
    layers = [((3, 5), (2, 1), (1, 2), (1, 1)), ((3, 3), (1, 2), (2, 0), (2, 1)), ((2, 4), (2, 2), (0, 1), (1, 3))]
    model = nn.Sequential(*(nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d) for k, s, p, d in layers))
    field = analytic_receptive_fields(model, (64, 80)).output
    for axis in (0, 1):
        strides = [s[axis] for _, s, _, _ in layers]
        k_eff = [d[axis] * (k[axis] - 1) + 1 for k, _, _, d in layers]
        before = [math.prod(strides[:i]) for i in range(len(layers))]
        assert field.size[axis] == sum((k - 1) * b for k, b in zip(k_eff, before, strict=True)) + 1
        assert field.padding[axis] == sum(p[axis] * b for (_, _, p, _), b in zip(layers, before, strict=True))
        assert field.jump[axis] == math.prod(strides)
    assert field.grid == tuple(model(torch.zeros(1, 1, 64, 80)).shape[2:])


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_pooling_padding_and_same_convolutions():
    model = nn.Sequential(
        nn.ZeroPad2d((1, 2, 0, 3)),
        nn.Conv2d(1, 1, 4, padding="same"),
        nn.MaxPool2d(3, stride=2, ceil_mode=True),
        nn.AvgPool2d(2),
        nn.AdaptiveAvgPool2d(1),
    )
    rfs = analytic_receptive_fields(model, 20)
    for name, _ in model.named_children():
        expected = model[: int(name) + 1](torch.zeros(1, 1, 20, 20)).shape[2:]
        assert rfs[name].grid == tuple(expected), name
    assert rfs["1"].start == (-1, -2)  # "same" pads (4 - 1) // 2 = 1 before, 2 after; the ZeroPad2d adds its own
    assert rfs["4"].size == (rfs["3"].size[0] + (rfs["3"].grid[0] - 1) * rfs["3"].jump[0],) * 2


def test_any_fx_traceable_cnn_with_functional_layers_and_a_head():
    rfs = analytic_receptive_fields(TorchvisionStyle(), 32)
    assert rfs["stem"].size == (7, 7) and rfs["stem"].jump == (2, 2)
    assert list(rfs).count("relu") == 1 and "relu#2" in rfs and "relu#3" in rfs  # one module, three calls
    assert rfs["b"].size == (7 + 2 * 2 + 2 * 4 + 2 * 4,) * 2  # stem, max pool (jump 2), two 3x3 (jump 4)
    assert rfs["relu#3"].size == rfs["b"].size  # the residual sum keeps the largest field
    assert "fc" not in rfs  # the classifier has no spatial field
    with pytest.raises(ValueError, match="no spatial receptive field"):
        _ = rfs.output


def test_inception_modules_branches():
    f6 = analytic_receptive_fields(InceptionModuleF6(n=7), 17)
    assert {n: f.size for n, f in f6.branches().items()} == {
        "branch_nxn_double": (13, 13),
        "branch_nxn": (7, 7),
        "branch_pool": (3, 3),
        "branch_1x1": (1, 1),
    }
    assert f6["branch_nxn_double.1"].size == (1, 7) and f6["branch_nxn_double.2"].size == (7, 7)
    f7 = analytic_receptive_fields(InceptionModuleF7(), 8)
    arms = f7.branches("branch_3x3_double")
    assert {n: f.size for n, f in arms.items()} == {"branch_3x3_double_1x3": (3, 5), "branch_3x3_double_3x1": (5, 3)}
    assert f7["branch_3x3_double"].size == (5, 5) and f7.misaligned() == []


def test_whole_model_is_aligned_and_matches_its_grids(model3):
    rfs = analytic_receptive_fields(model3, 299)  # how long this takes is measured in `make bench`
    assert rfs.misaligned() == []
    assert rfs["features.stem"] == ReceptiveField((47, 47), (8, 8), (-10, -10), (35, 35))
    assert rfs.output == rfs["features.mixed_7.1"] and rfs.output.jump == (32, 32)
    assert rfs.output.grid == (8, 8)
    assert {info["module"]: info["reduction"] for info in model3.feature_info()} == {
        name: rfs[name].jump[0] for name in (i["module"] for i in model3.feature_info())
    }
    # Every module output of the trunk is there, the head is not.
    names = {n for n, _ in model3.features.named_modules() if n and not n.startswith("aux")}
    assert names <= {n.removeprefix("features.") for n in rfs}
    assert not any(n.startswith("features.aux") for n in rfs)


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="too small"):
        analytic_receptive_fields(nn.Sequential(conv(5), conv(5)), 7)
    with pytest.raises(ValueError, match="input_size"):
        analytic_receptive_fields(conv(3), 0)
    with pytest.raises(ValueError, match="GroupNorm"):
        analytic_receptive_fields(nn.Sequential(nn.GroupNorm(1, 1), conv(3)), 8)
    with pytest.raises(ValueError, match="outside"):
        analytic_receptive_fields(conv(3), 8).output.box(6, 0)  # a bare Conv2d traces to F.conv2d
    with pytest.raises(ValueError, match="unequal"):
        analytic_receptive_fields(nn.AdaptiveAvgPool2d(3), 10)
    with pytest.raises(ValueError, match="does not end where branches meet"):
        analytic_receptive_fields(nn.Sequential(conv(3)), 8).branches()
    with pytest.raises(KeyError, match="no module"):
        analytic_receptive_fields(UnequalBranches(), 8).branches("nope")


class NeedsTwoInputs(nn.Module):
    def forward(self, x, y):
        return x + y


def test_untraceable_forward_is_a_value_error():
    with pytest.raises(ValueError, match="'y'"):
        analytic_receptive_fields(NeedsTwoInputs(), 8)
    model = InceptionV2(num_classes=3, aux_logits=False, seed=0)
    assert analytic_receptive_fields(model, 75).output.grid == (1, 1)  # the trunk is traced, not forward


def test_trunk_and_layers(model3):
    rfs = analytic_receptive_fields(model3, 299)
    trunk = [n.removeprefix("features.") for n in rfs.trunk()]
    assert trunk == [f"stem.{i}" for i in range(7)] + [
        *(f"mixed_5.{i}" for i in range(3)),
        "reduction_1",
        *(f"mixed_6.{i}" for i in range(5)),
        "reduction_2",
        *(f"mixed_7.{i}" for i in range(2)),
    ]
    convs_and_pools = [n for n, m in model3.features.named_modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]
    assert rfs.layers() == ["features." + n for n in convs_and_pools if not n.startswith("aux")]
    assert analytic_receptive_fields(UnequalBranches(), 8).trunk() == []  # parallel branches up to the output
    assert analytic_receptive_fields(TorchvisionStyle(), 32).trunk() == ["stem", "relu"]


def test_field_on_photo_view_and_explorer(model3):
    from inception_lib.analysis.rf import unit_at
    from inception_lib.draw.encode import photo_data_uri
    from inception_lib.draw.rf import render_field_on_photo
    from inception_lib.explorers.receptive_field import field_on_photo

    rfs = analytic_receptive_fields(model3, 299)
    photo = photo_data_uri(torch.rand(299, 299, 3).numpy())
    assert photo.startswith("data:image/jpeg;base64,")
    html = render_field_on_photo(photo, rfs, "features.reduction_1", 0.5, 0.5)
    assert "unit (8, 8)" in html and "175×175 px" in html
    # The 17 x 17 unit centres are one pattern tile (a jump wide) repeated over 17 x 17 tiles, plus the unit's dot.
    assert 'width="16" height="16"' in html and 'width="272" height="272"' in html and html.count("<circle") == 2
    corner = render_field_on_photo(photo, rfs, "features.reduction_1", 0, 1)
    assert "unit (0, 16)" in corner and corner != html
    fine_grid = render_field_on_photo(photo, rfs, "features.stem.0", 0.5, 0.5)
    assert fine_grid.count("<circle") == 1  # 149 x 149 centres would hide the photo: only the unit's own
    assert unit_at(rfs["features.stem.0"], 1, 0) == (148, 0)
    with pytest.raises(ValueError, match="fraction"):
        unit_at(rfs["features.stem.0"], 1.5, 0)
    explorer = field_on_photo(model3)
    before = explorer.html.value
    explorer.set(layer="features.mixed_7.1", row=0.0)
    assert explorer.html.value != before and "features.mixed_7.1" in explorer.html.value


def test_growth_figure(model3):
    fig = growth_figure(analytic_receptive_fields(model3, 299))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.collections) == 2  # heights and widths of every layer
    with pytest.raises(ValueError, match="no convolution"):
        growth_figure(analytic_receptive_fields(nn.Sequential(nn.ReLU()), 8))


def test_low_resolution_variants_keep_the_grids(model3):
    """Table 2: stride 1 in the first layer (and no stem pool for 79x79) keeps 8x8 at the end."""
    fields = {
        size: analytic_receptive_fields(low_resolution_variant(model3, stride, pool), size)
        for size, stride, pool in ((299, 2, True), (151, 1, True), (79, 1, False))
    }
    assert {size: f.output.grid for size, f in fields.items()} == {299: (8, 8), 151: (8, 8), 79: (8, 8)}
    assert fields[151]["stem.0"].grid == fields[299]["stem.0"].grid == (149, 149)
    assert [f.output.jump[0] for f in fields.values()] == [32, 16, 8]
    assert model3.features.stem[0].conv.stride == (2, 2)  # the original is untouched
    with pytest.raises(ValueError, match="InceptionV2"):
        low_resolution_variant(nn.Sequential(conv(3)))


def test_cli_prints_the_trunk_table(capsys):
    from inception_lib.cli import main

    assert main(["rf", "--input-size", "299"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["module", "grid", "size", "jump", "padding"]
    assert lines[-1].split() == ["features.mixed_7.1", "8×8", "1455×1455", "32×32", "690×690"]
    assert len(lines) == 1 + 19
    assert main(["rf", "--input-size", "10"]) == 2
    assert "at least 75" in capsys.readouterr().err
