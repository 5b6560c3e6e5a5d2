"""Checks behind claims of notebooks 00-03 that a lesson should not carry: torchvision's published
size against a rebuild of its network, the explorers driven from code, and what oneDNN runs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from inception_lib import InceptionV2
from inception_lib.analysis.costs import Cost, cost, stage_costs
from inception_lib.analysis.shapes import trace
from inception_lib.explorers.costs import grid_reduction
from inception_lib.explorers.shapes import resolution
from inception_lib.model import BasicConv2d

# --- torchvision's inception_v3, rebuilt from torchvision/models/inception.py (torchvision is not a
# dependency). BasicConv2d is the same block there: conv without bias, BatchNorm(eps=0.001), ReLU.
# Published for weights IMAGENET1K_V1 (the weights' metadata): num_params 27161264, _ops 5.713.


class _Concat(nn.Module):
    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


def _conv(c_in: int, c_out: int, kernel, **kwargs) -> BasicConv2d:
    return BasicConv2d(c_in, c_out, kernel, **kwargs)


def _row(c_in: int, c_out: int, n: int = 7) -> BasicConv2d:
    return _conv(c_in, c_out, (1, n), padding=(0, n // 2))


def _col(c_in: int, c_out: int, n: int = 7) -> BasicConv2d:
    return _conv(c_in, c_out, (n, 1), padding=(n // 2, 0))


def _inception_a(c_in: int, pool: int) -> nn.Module:
    return _Concat(
        _conv(c_in, 64, 1),
        nn.Sequential(_conv(c_in, 48, 1), _conv(48, 64, 5, padding=2)),
        nn.Sequential(_conv(c_in, 64, 1), _conv(64, 96, 3, padding=1), _conv(96, 96, 3, padding=1)),
        nn.Sequential(nn.AvgPool2d(3, 1, 1), _conv(c_in, pool, 1)),
    )


def _inception_c(c: int) -> nn.Module:
    return _Concat(
        _conv(768, 192, 1),
        nn.Sequential(_conv(768, c, 1), _row(c, c), _col(c, 192)),
        nn.Sequential(_conv(768, c, 1), _col(c, c), _row(c, c), _col(c, c), _row(c, 192)),
        nn.Sequential(nn.AvgPool2d(3, 1, 1), _conv(768, 192, 1)),
    )


class _Fork(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.row, self.col = _row(c, c, 3), _col(c, c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.row(x), self.col(x)], dim=1)


def _inception_e(c_in: int) -> nn.Module:
    return _Concat(
        _conv(c_in, 320, 1),
        nn.Sequential(_conv(c_in, 384, 1), _Fork(384)),
        nn.Sequential(_conv(c_in, 448, 1), _conv(448, 384, 3, padding=1), _Fork(384)),
        nn.Sequential(nn.AvgPool2d(3, 1, 1), _conv(c_in, 192, 1)),
    )


def _torchvision_stages() -> dict[str, tuple[nn.Module, tuple[int, int, int]]]:
    """torchvision's stages under this course's stage names, each with the input it reads at 299x299."""
    stem = nn.Sequential(
        _conv(3, 32, 3, stride=2), _conv(32, 32, 3), _conv(32, 64, 3, padding=1), nn.MaxPool2d(3, 2),
        _conv(64, 80, 1), _conv(80, 192, 3), nn.MaxPool2d(3, 2),
    )  # fmt: skip
    reduction_1 = _Concat(  # Mixed_6a (InceptionB)
        _conv(288, 384, 3, stride=2),
        nn.Sequential(_conv(288, 64, 1), _conv(64, 96, 3, padding=1), _conv(96, 96, 3, stride=2)),
        nn.MaxPool2d(3, 2),
    )
    reduction_2 = _Concat(  # Mixed_7a (InceptionD)
        nn.Sequential(_conv(768, 192, 1), _conv(192, 320, 3, stride=2)),
        nn.Sequential(_conv(768, 192, 1), _row(192, 192), _col(192, 192), _conv(192, 192, 3, stride=2)),
        nn.MaxPool2d(3, 2),
    )
    aux = nn.Sequential(  # InceptionAux
        nn.AvgPool2d(5, 3), _conv(768, 128, 1), _conv(128, 768, 5), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(768, 1000),
    )  # fmt: skip
    return {
        "stem": (stem, (3, 299, 299)),
        "mixed_5": (nn.Sequential(_inception_a(192, 32), _inception_a(256, 64), _inception_a(288, 64)), (192, 35, 35)),
        "reduction_1": (reduction_1, (288, 35, 35)),
        "mixed_6": (nn.Sequential(*(_inception_c(c) for c in (128, 160, 160, 192))), (768, 17, 17)),
        "aux": (aux, (768, 17, 17)),
        "reduction_2": (reduction_2, (768, 17, 17)),
        "mixed_7": (nn.Sequential(_inception_e(1280), _inception_e(2048)), (1280, 8, 8)),
        "classifier": (nn.Sequential(nn.Flatten(), nn.Linear(2048, 1000)), (2048, 1, 1)),
    }


@pytest.fixture(scope="module")
def torchvision_costs() -> dict[str, Cost]:
    return {name: cost(module, shape) for name, (module, shape) in _torchvision_stages().items()}


@pytest.fixture(scope="module")
def our_costs() -> dict[str, Cost]:
    return stage_costs(trace(InceptionV2(num_classes=1000, device="meta"), (3, 299, 299)))


def test_torchvision_rebuild_reproduces_its_published_size(torchvision_costs, our_costs):
    """Notebook 00: torchvision's 27,161,264 parameters include its aux head; its 5.713 "GFLOPS" are
    mult-adds without it, counted as this course counts; its aux head is this model's."""
    total = sum(torchvision_costs.values(), Cost(0, 0))
    assert total.params == 27_161_264
    assert round((total.mult_adds - torchvision_costs["aux"].mult_adds) / 1e9, 3) == 5.713
    assert torchvision_costs["aux"] == our_costs["aux"]


def test_without_its_two_extra_layers_this_model_is_cheaper_stage_by_stage(torchvision_costs):
    """Notebook 00: take away stem.6 and one 160-wide F6, and every stage does at most torchvision's
    mult-adds; in parameters only the stem is larger (a 3x3 64->80 where torchvision has a 1x1)."""
    model = InceptionV2(num_classes=1000, device="meta")
    rows = {r.name: r for r in trace(model, (3, 299, 299))}
    ours = stage_costs(list(rows.values()))
    extra = {"stem": "features.stem.6", "mixed_6": "features.mixed_6.3"}
    for stage, name in extra.items():
        ours[stage] = Cost(ours[stage].params - rows[name].params, ours[stage].mult_adds - rows[name].mult_adds)
    assert all(ours[s].mult_adds <= torchvision_costs[s].mult_adds for s in ours)
    assert [s for s in ours if ours[s].mult_adds < torchvision_costs[s].mult_adds] == [
        "stem", "mixed_5", "reduction_1", "reduction_2"
    ]  # fmt: skip
    assert [s for s in ours if ours[s].params > torchvision_costs[s].params] == ["stem"]
    assert ours["mixed_6"] == torchvision_costs["mixed_6"] and ours["mixed_7"] == torchvision_costs["mixed_7"]


def test_resolution_explorer_messages():
    """Notebook 01's explorer: too small, trunk only, everything."""
    explorer = resolution(InceptionV2(num_classes=3, seed=0).eval())
    assert "below the minimum of 75×75" in explorer.set(size=74)
    assert "auxiliary head needs 299×299" in explorer.set(size=224)
    assert "every part runs" in explorer.set(size=299)


def test_grid_reduction_explorer_at_the_networks_widths():
    """Notebook 03's explorer at reduction_1's input and output: 288 + 480 channels on 17x17."""
    explorer = grid_reduction()
    view = explorer.set(channels=288, grid=35, conv_width=480)
    assert "768×17×17" in view and "keeps 2.7×" in view
    assert explorer.set(channels=64) != view


ONEDNN_PROBE = """
import torch
from torch import nn
with torch.no_grad():
    for kernel in (3, 5):
        conv = nn.Conv2d(64, 96, kernel, padding=kernel // 2, bias=False)
        conv(torch.randn(1, 64, 35, 35))
"""


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch build has no oneDNN")
def test_pytorch_runs_cpu_convolutions_with_onednn_direct_and_reorders():
    """Notebook 02: a float32 NCHW convolution on the CPU is a oneDNN direct convolution (no Winograd),
    with a reorder of its input into oneDNN's blocked layout before it and of its output after it."""
    env = {"ONEDNN_VERBOSE": "1", "OMP_NUM_THREADS": "1", "PATH": ""}
    log = subprocess.run([sys.executable, "-c", ONEDNN_PROBE], env=env, capture_output=True, text=True, check=True)
    lines = [line for line in log.stdout.splitlines() if line.startswith("onednn_verbose") and ",exec," in line]
    convolutions = [line for line in lines if ",convolution," in line]
    assert len(convolutions) == 2 and all("alg:convolution_direct" in line for line in convolutions)
    first = lines.index(convolutions[0])
    assert ",reorder," in lines[first - 1] and ",reorder," in lines[first + 1]
