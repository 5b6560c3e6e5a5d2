"""What a channel responds to: strongest channels, extent, edge alignment, per-block summary, class evidence."""

from __future__ import annotations

import pytest
import torch

from inception_lib import InceptionV2
from inception_lib.analysis.features import (
    FeatureMaps,
    class_evidence,
    edge_alignment,
    edge_strength,
    response_extent,
    response_summary,
    strongest_channels,
)


def test_strongest_channels_are_ordered_by_peak_and_located():
    act = torch.zeros(5, 4, 6)
    act[3, 1, 2] = 9.0  # channel 3: one spot
    act[1] = 2.0  # channel 1: flat, everywhere at its peak
    act[4, 0, :3] = torch.tensor([1.0, 4.0, 1.0])
    first, second, third = strongest_channels(act, 3)
    assert (first.channel, first.peak, first.row, first.col) == (3, 9.0, 1, 2)
    assert first.extent == pytest.approx(1 / 24)
    assert (second.channel, third.channel) == (4, 1)
    assert third.extent == 1.0
    assert response_extent(act)[0] == 0  # a silent channel spreads nowhere
    with pytest.raises(ValueError, match=r"count must be within 1\.\.5"):
        strongest_channels(act, 6)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        strongest_channels(act[None], 1)


def test_edge_strength_marks_a_step_and_alignment_is_a_correlation():
    images = torch.zeros(1, 3, 32, 32)
    images[..., 16:] = 1.0  # a vertical step between columns 15 and 16
    edges = edge_strength(images, 8)
    assert edges.shape == (1, 8, 8)
    assert edges[0, :, 3:5].min() > 0 and edges[0, :, :3].abs().max() == 0 and edges[0, :, 5:].abs().max() == 0
    maps = torch.stack([edges[0], -edges[0], torch.ones(8, 8)])[None]  # follows, opposes, constant
    assert edge_alignment(maps, images)[0].tolist() == pytest.approx([1.0, -1.0, 0.0], abs=1e-6)
    with pytest.raises(ValueError, match=r"size must be within 1\.\.32"):
        edge_strength(images, 33)
    with pytest.raises(ValueError, match="for the 1 images"):
        edge_alignment(maps.repeat(2, 1, 1, 1), images)


def test_class_evidence_averages_to_the_logits():
    model = InceptionV2(num_classes=3, aux_logits=False, width=0.25, seed=0).eval()
    images = torch.randn(2, 3, 107, 107, generator=torch.Generator().manual_seed(0))
    evidence = class_evidence(model, images)
    assert evidence.shape == (2, 3, 2, 2)
    with torch.no_grad():
        assert torch.allclose(evidence.mean(dim=(2, 3)), model(images), atol=1e-5)
    with pytest.raises(ValueError, match="no global-average-pool"):
        class_evidence(torch.nn.Conv2d(3, 3, 1), images)


def test_response_summary_covers_every_block():
    model = InceptionV2(num_classes=3, aux_logits=False, width=0.25, seed=0)
    maps = FeatureMaps({"random": model}, image_names=["cat", "coffee"], size=107)
    rows = response_summary(maps, count=4)
    assert [r.block for r in rows] == [name.removeprefix("features.") for name in maps.blocks]
    assert rows[0].grid > rows[-1].grid == 2
    # The share counts channels above the threshold: every correlation exceeds -1, none exceeds 1.
    assert [r.edge_share for r in response_summary(maps, count=4, threshold=-1.0)] == [1.0] * len(rows)
    assert [r.edge_share for r in response_summary(maps, count=4, threshold=1.0)] == [0.0] * len(rows)
    with pytest.raises(ValueError, match="unknown weights 'trained'"):
        response_summary(maps, "trained")
