"""Checks that notebooks 05 and 07 used to run in their cells, moved here so the lessons carry no test
plumbing: the F7 explorer over the trained network and its starting point answers every click from the
cache, and the trained network's effective fields stay inside their theoretical fields.

(07's other cross-checks live in tests/test_receptive_field.py, `feature_info` against the computed
jumps, and tests/test_effective_rf.py, measured support against computed boxes for every module output.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inception_lib import InceptionModuleF7, InceptionV2
from inception_lib.analysis.features import FeatureMaps
from inception_lib.analysis.rf import effective_receptive_field
from inception_lib.assets.weights import trained_model
from inception_lib.explorers.features import f7_branches
from inception_lib.training.config import TrainConfig
from inception_lib.training.data import ShapesDataset
from inception_lib.training.loop import build_model


@pytest.fixture(scope="module")
def pair() -> dict[str, InceptionV2]:
    """The shipped network and the starting point of its run, as notebooks 05 and 07 build them."""
    trained = trained_model()
    start = build_model(TrainConfig(**trained.metadata["train_config"]), num_classes=3).eval()
    return {"before training": start, "trained": trained}


def test_f7_explorer_over_two_networks_runs_each_once(pair):
    maps = FeatureMaps(pair, image_names=["cat", "rocket"], size=160, kinds=(InceptionModuleF7,))
    maps.precompute()
    explorer = f7_branches(maps)
    assert list(explorer.controls) == ["image", "weights", "block", "branch", "channel"]
    before = bytes(explorer.image.value)
    explorer.set(weights="trained", block="features.mixed_7.1", branch="branch_3x3", channel=200, image="rocket")
    assert bytes(explorer.image.value) != before
    assert all(cache.forward_calls == 1 for cache in maps.caches.values())  # every click was a cache hit


def test_trained_effective_fields_lie_inside_the_theoretical_ones(pair):
    shapes = ShapesDataset(2, image_size=299, seed=2, split="test")
    images = torch.stack([shapes[i][0] for i in range(len(shapes))])
    for net in pair.values():
        erf = effective_receptive_field(net, "features.mixed_5.2", images=images)
        box = erf.theoretical
        assert np.isclose(erf.gradient.sum(), 1)
        assert erf.gradient[box.top : box.bottom + 1, box.left : box.right + 1].sum() > 0.999
