"""Checks behind claims of notebooks 00-03 that a lesson should not carry: torchvision's published
size against its transcribed layers, stage by stage, the explorers driven from code, and what oneDNN runs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from inception_lib import InceptionV2
from inception_lib.analysis.costs import ZERO, Cost, stage_costs
from inception_lib.analysis.layer_specs import torchvision_inception_v3
from inception_lib.analysis.lineage import PAIRS
from inception_lib.analysis.shapes import trace
from inception_lib.explorers.costs import grid_reduction
from inception_lib.explorers.shapes import resolution

# --- torchvision's inception_v3 as ``layer_specs`` transcribes it from torchvision/models/inception.py
# (torchvision is not a dependency), costed per stage of this course: ``lineage.PAIRS`` maps the stages.
# Published for weights IMAGENET1K_V1 (the weights' metadata): num_params 27161264, _ops 5.713.


def _stage(ours: tuple[str, ...]) -> str:
    """``features.stem.3`` -> ``stem``; the head's avgpool / dropout / fc -> ``classifier`` (``stage_costs``' names)."""
    return ours[0].removeprefix("features.").split(".")[0] if ours[0].startswith("features.") else "classifier"


@pytest.fixture(scope="module")
def torchvision_costs() -> dict[str, Cost]:
    runs = {block.name: result.cost for block, result in torchvision_inception_v3().run()}
    costs: dict[str, Cost] = {}
    for ours, theirs in PAIRS:  # the head's pool and dropout live in its Linear block
        costs[_stage(ours)] = costs.get(_stage(ours), ZERO) + sum((runs[n] for n in theirs if n in runs), ZERO)
    return costs


@pytest.fixture(scope="module")
def our_costs() -> dict[str, Cost]:
    return stage_costs(trace(InceptionV2(num_classes=1000, device="meta"), (3, 299, 299)))


def test_torchvision_rebuild_reproduces_its_published_size(torchvision_costs, our_costs):
    """Notebook 00: torchvision's 27,161,264 parameters include its aux head; its 5.713 "GFLOPS" are
    mult-adds without it, counted as this course counts; its aux head is this model's (stage by stage:
    ``tests/test_lineage.py`` checks the totals of the same transcription)."""
    total = sum(torchvision_costs.values(), ZERO)
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
