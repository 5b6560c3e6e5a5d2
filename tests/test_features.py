"""Feature cache (no reruns on hits, stale weights never served), branch views, channel grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inception_lib import InceptionV2
from inception_lib.analysis.features import ALL_BRANCHES, FeatureCache, FeatureMaps, inception_blocks, weight_change
from inception_lib.assets.images import image_batch, to_display
from inception_lib.draw.encode import image_png
from inception_lib.draw.features import FeatureMapView, channel_grid, channel_mosaic, feature_image, statistics_figure
from inception_lib.explorers.features import feature_map_explorer

SIZE = 96  # small photos keep the forward passes quick; every module still runs


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    return image_batch(["cat", "rocket"], size=SIZE)


@pytest.fixture
def counted(model3):
    """A cache on the shared model, plus a list that grows each time the network really runs."""
    runs: list[int] = []
    hook = model3.features.stem.register_forward_hook(lambda *_: runs.append(1))
    yield FeatureCache(model3), runs
    hook.remove()


def test_hits_do_not_rerun_the_model(counted, photos):
    cache, runs = counted
    first = cache.activations(photos, ["features.mixed_5.0", "features.mixed_7.1"])
    assert len(runs) == cache.forward_calls == 1
    again = cache.activations(photos, ["features.mixed_7.1"])  # a subset, asked again
    assert len(runs) == 1 and again["features.mixed_7.1"] is first["features.mixed_7.1"]
    cache.activations(photos.clone(), ["features.mixed_5.0"])  # equal content is a hit too
    assert len(runs) == 1
    cache.activations(photos, ["features.mixed_5.0", "features.reduction_1"])  # one new module: one pass
    assert len(runs) == cache.forward_calls == 2
    cache.activations(photos[:1], ["features.mixed_5.0"])  # different images
    assert len(runs) == 3
    edited = photos.clone()
    cache.activations(edited, ["features.mixed_5.0"])
    edited[:, :, :8] = 0  # changed in place: same tensor object, new content
    cache.activations(edited, ["features.mixed_5.0"])
    assert len(runs) == 4


def test_captured_outputs_are_the_modules_outputs(model3, photos):
    cache = FeatureCache(model3)
    acts = cache.activations(photos, ["features.stem", "features.stem.0.bn", "features.mixed_7.1"])
    with torch.no_grad():
        assert torch.allclose(acts["features.stem"], model3.features.stem(photos))
        assert torch.allclose(acts["features.mixed_7.1"], model3.forward_features(photos))
    # BasicConv2d applies its ReLU in place on the BatchNorm output: the capture must predate it.
    assert acts["features.stem.0.bn"].min() < 0
    assert acts["features.mixed_7.1"].shape == (2, 2048, 1, 1)


def test_branches_concatenate_to_the_module_output(model3, photos):
    cache = FeatureCache(model3)
    blocks = ("features.mixed_5.1", "features.reduction_2", "features.mixed_7.0")
    wholes = cache.activations(photos, blocks)
    for block in blocks:
        branches = cache.branches(photos, block)
        module = model3.get_submodule(block)
        assert list(branches) == [name for name, _ in module.named_branches()]
        assert torch.equal(torch.cat(list(branches.values()), dim=1), wholes[block])
    assert [t.shape[1] for t in cache.branches(photos, "features.mixed_7.0").values()] == [768, 768, 192, 320]
    assert cache.forward_calls == 1 + len(blocks)  # the wholes, then one pass per block's branches


def test_changed_weights_are_recomputed(photos):
    model = InceptionV2(num_classes=3, seed=1)
    cache = FeatureCache(model)
    before = cache.activations(photos, ["features.stem"])["features.stem"]
    with torch.no_grad():
        model.features.stem[0].conv.weight.mul_(2)  # what an optimizer step does: in place
    after = cache.activations(photos, ["features.stem"])["features.stem"]
    assert cache.forward_calls == 2 and not torch.equal(before, after)
    assert len(cache._store) == 1  # activations of the old weights were dropped, not kept forever


def test_mode_is_restored_and_bad_names_are_explained(model3, photos):
    cache = FeatureCache(model3)
    model3.train()
    try:
        cache.activations(photos, ["features.mixed_6.0"])
        assert model3.training
    finally:
        model3.eval()
    with pytest.raises(ValueError, match=r"no submodule named 'features\.mixed_6\.9'.*features\.mixed_6\.0"):
        cache.activations(photos, ["features.mixed_6.9"])
    with pytest.raises(ValueError, match="did not run"):
        cache.activations(photos, ["features.aux"])
    with pytest.raises(ValueError, match=r"not an Inception block.*features\.mixed_5\.0"):
        cache.branches(photos, "features.stem")


def test_inception_blocks_lists_the_paper_modules_in_order(model3):
    names = [name for name, _ in inception_blocks(model3)]
    assert names[:4] == ["features.mixed_5.0", "features.mixed_5.1", "features.mixed_5.2", "features.reduction_1"]
    assert names[-3:] == ["features.reduction_2", "features.mixed_7.0", "features.mixed_7.1"]
    assert len(names) == 3 + 1 + 5 + 1 + 2


def test_channel_mosaic_scales_each_tile_and_leaves_gaps():
    act = torch.zeros(3, 4, 4)
    act[0] = torch.arange(16.0).view(4, 4)  # a ramp
    act[1] = 5.0  # constant: shown as 0, not NaN or noise
    act[2, 0, 0] = -3.0
    mosaic, corners = channel_mosaic(act, [0, 1, 2], columns=2)
    assert corners == [(0, 0), (0, 5), (5, 0)] and mosaic.shape == (9, 9)
    assert mosaic[0, 0] == 0 and mosaic[3, 3] == 1
    assert np.all(mosaic[0:4, 5:9] == 0)
    assert np.isnan(mosaic[4]).all() and np.isnan(mosaic[5:, 5:]).all()
    assert mosaic[5, 0] == 0 and mosaic[5, 1] == 1
    with pytest.raises(ValueError, match=r"within 0\.\.2"):
        channel_mosaic(act, [3])
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        channel_mosaic(act[None], [0])


def test_figures_change_with_the_channel(model3, photos):
    act = FeatureCache(model3).activations(photos, ["features.mixed_5.0"])["features.mixed_5.0"][0]
    photo = to_display(photos[0])
    views = [feature_image(photo, act, channel, "mixed_5.0") for channel in (0, 1, 17)]
    assert len({image_png(view) for view in views}) == 3
    assert views[0].size == views[2].size and views[0].height > photo.shape[0]  # titles above the panels
    with pytest.raises(ValueError, match=r"channel 288 is out of range.*0\.\.287"):
        feature_image(photo, act, 288, "mixed_5.0")
    assert image_png(channel_grid(act, range(8))) != image_png(channel_grid(act, range(8, 16)))


@pytest.fixture(scope="module")
def maps(model3) -> FeatureMaps:
    return FeatureMaps({"random": model3, "copy": model3}, image_names=["cat", "rocket"], size=SIZE)


def test_explorer_links_branches_and_channels_and_renders_once_per_change(maps):
    explorer = feature_map_explorer(maps, block="features.mixed_5.0")
    renders: list[dict] = []
    render = explorer.render
    explorer.render = lambda **values: renders.append(values) or render(**values)
    controls = explorer.controls
    assert list(controls) == ["image", "weights", "block", "branch", "channel"]
    assert controls["channel"].max == 287

    controls["block"].value = "features.reduction_1"  # what a user's pick does
    assert controls["branch"].options == (ALL_BRANCHES, "branch_3x3_double", "branch_3x3", "branch_pool")
    assert controls["channel"].max == 767 and len(renders) == 1
    controls["channel"].value = 700
    controls["branch"].value = "branch_3x3_double"  # 178 channels: the channel is clamped to fit
    assert controls["channel"].max == 177 and controls["channel"].value == 177
    assert len(renders) == 3 and renders[-1]["channel"] == 177

    before = bytes(explorer.image.value)
    explorer.set(block="features.mixed_7.0", branch="branch_pool", channel=5, image="rocket")
    assert len(renders) == 4 and controls["channel"].max == 191
    assert bytes(explorer.image.value) != before
    assert all(cache.forward_calls == 1 for cache in maps.caches.values())  # every click was a cache hit


def test_view_rejects_what_it_does_not_hold(maps):
    view = FeatureMapView(maps)
    with pytest.raises(ValueError, match="no branch 'branch_5x5'"):
        view.render("cat", "features.mixed_7.0", "branch_5x5")
    with pytest.raises(ValueError, match="unknown image 'dog'; this view holds cat, rocket"):
        view.render("dog", "features.mixed_7.0")
    with pytest.raises(ValueError, match="unknown weights 'trained'; choose from random, copy"):
        view.render("cat", "features.mixed_7.0", weights="trained")
    with pytest.raises(ValueError, match=r"unknown block 'features\.stem'"):
        maps.branch_options("features.stem")


def test_statistics_summarize_each_block(maps):
    stats = maps.statistics("random")
    assert [s.block for s in stats] == [name.removeprefix("features.") for name in maps.blocks]
    act = maps.caches["random"].activations(maps.images, ["features.mixed_6.1"])["features.mixed_6.1"]
    one = stats[[s.block for s in stats].index("mixed_6.1")]
    assert one.mean == pytest.approx(act.mean().item())
    assert one.zero_fraction == pytest.approx((act == 0).float().mean().item())
    assert 0 <= one.dead_channels <= one.zero_fraction <= 1
    fig = statistics_figure(maps)
    assert [len(ax.lines) for ax in fig.axes] == [2, 4]  # two models: a mean line each; outputs + dead channels


def test_weight_change_is_relative_per_block():
    before = InceptionV2(num_classes=3, seed=0)
    after = InceptionV2(num_classes=3, seed=0)
    with torch.no_grad():
        for p in after.features.mixed_6[2].parameters():
            p.mul_(3)
    change = weight_change(before, after, ["features.mixed_6.1", "features.mixed_6.2"])
    assert change["features.mixed_6.1"] == 0
    assert change["features.mixed_6.2"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="differs in shape"):
        weight_change(before, InceptionV2(num_classes=3, f6_n=3, seed=0), ["features.mixed_6.0"])
