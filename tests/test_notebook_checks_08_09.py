"""Checks that notebooks 08 and 09 used to carry in their cells, and the claims their text rests on:
the feature cache runs each network once, the zero classifier sends no gradient into the trunk, the
torchrun lines, the figures' labels, and the preset table in code and in docs/training.md."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from inception_lib.analysis.features import FeatureMaps
from inception_lib.assets.weights import trained_model
from inception_lib.draw.training import compare_runs, preset_table
from inception_lib.explorers.features import feature_maps
from inception_lib.training.config import TrainConfig, differing_fields
from inception_lib.training.data import ShapesDataset
from inception_lib.training.distributed import torchrun_command
from inception_lib.training.loop import build_model
from inception_lib.training.metrics import recorded_run


def test_notebook_08_runs_each_network_once_explorer_included():
    trained = trained_model()
    before = build_model(TrainConfig(**trained.metadata["train_config"]), num_classes=3).eval()
    maps = FeatureMaps({"before": before, "trained": trained}, image_names=["cat", "rocket"], size=107)
    maps.precompute()
    assert all(cache.forward_calls == 1 for cache in maps.caches.values())
    explorer = feature_maps(maps)
    explorer.set(weights="trained", block="features.mixed_7.1")
    assert all(cache.forward_calls == 1 for cache in maps.caches.values())


def test_a_zero_classifier_sends_no_gradient_into_the_trunk():
    net = build_model(TrainConfig.preset("cpu"), num_classes=3).train()
    shapes = ShapesDataset(4, 75, seed=0)
    images = torch.stack([shapes[i][0] for i in range(4)])
    F.cross_entropy(net(images), torch.tensor([shapes.label(i) for i in range(4)])).backward()
    trunk = [p.grad for name, p in net.named_parameters() if not name.startswith("fc.")]
    assert all(g is None or g.abs().max() == 0 for g in trunk)
    assert net.fc.bias.grad.abs().max() > 0  # the classifier's bias learns at once


def test_notebook_09_torchrun_lines():
    options = ["--preset", "paper", "--data", "/data/my_images", "--sync-bn", "--out-dir", "runs/paper"]
    assert torchrun_command(options, nproc_per_node=8).startswith("torchrun --standalone --nproc_per_node=8 -m")
    lines = [torchrun_command(options, 8, nnodes=2, node_rank=r, endpoint="node0:29500") for r in (0, 1)]
    assert all("--rdzv_backend=c10d --rdzv_endpoint=node0:29500" in line for line in lines)
    assert [f"--node_rank={r}" in line for r, line in enumerate(lines)] == [True, True]


def test_compare_runs_names_its_axis():
    runs = {"a": recorded_run("cpu"), "b": recorded_run("cpu-ls0.1")}
    assert compare_runs(runs).axes[0].get_ylabel() == "held-out accuracy, weight average"
    assert compare_runs(runs, "val_loss_ema", label="loss").axes[0].get_ylabel() == "loss"
    with pytest.raises(ValueError, match="have no 'val_top5'"):
        compare_runs(runs, "val_top5")


def test_preset_table_says_where_the_paper_presets_values_come_from():
    table = preset_table("paper", "cpu")
    for value, source in (("0.045", "§8"), ("0.1", "§7"), ("4e-05", "TF-slim"), ("0.2", "TF-slim")):
        assert f"<td>{value} <small>({source})</small></td>" in table
    assert "0.9999 <small>(TF Inception code)</small>" in table
    assert "<td>0.0003</td>" in table  # the cpu preset's own choice carries no source
    assert all(f.metadata["source"] for f in fields(TrainConfig))


def test_the_preset_table_in_docs_names_every_option_the_presets_differ_in():
    text = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text(encoding="utf-8")
    table = text.split("| option (flags) |", 1)[1].split("\n\n", 1)[0]
    differing = [f.name for f in differing_fields()]
    flags = set(re.findall(r"`(--[a-z0-9-]+)`", table))
    assert differing and {"--" + name.replace("_", "-") for name in differing} <= flags
