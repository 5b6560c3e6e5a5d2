"""Behaviour of InceptionV2 beyond the design document's tables."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from inception_lib import (
    GridReduction,
    InceptionModuleF6,
    InceptionModuleF7,
    InceptionOutputs,
    InceptionV2,
    InceptionV2Config,
)


def test_training_returns_logits_and_aux_logits():
    model = InceptionV2(num_classes=5, seed=1).train()
    out = model(torch.randn(2, 3, 299, 299))
    assert isinstance(out, InceptionOutputs)
    assert out.logits.shape == (2, 5)
    assert out.aux_logits.shape == (2, 5)


def test_eval_returns_logits_only(model3):
    out = model3(torch.randn(1, 3, 299, 299))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 3)


def test_without_aux_head_training_returns_logits():
    model = InceptionV2(num_classes=3, aux_logits=False, seed=0).train()
    assert model.features.aux is None
    out = model(torch.randn(2, 3, 75, 75))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3)


def test_forward_features_and_head_compose_to_forward(model3):
    x = torch.randn(1, 3, 299, 299)
    with torch.no_grad():
        features = model3.forward_features(x)
        assert features.shape == (1, 2048, 8, 8)
        torch.testing.assert_close(model3.forward_head(features), model3(x))


def test_with_aux_true_on_a_model_without_head_is_an_error():
    model = InceptionV2(num_classes=3, aux_logits=False).eval()
    with pytest.raises(ValueError, match="aux_logits=False"):
        model(torch.randn(1, 3, 299, 299), with_aux=True)


def test_seed_makes_weights_deterministic_without_touching_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    a = InceptionV2(num_classes=3, seed=7)
    torch.manual_seed(123)
    b = InceptionV2(num_classes=3, seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after)  # the private generator left the global stream alone
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    c = InceptionV2(num_classes=3, seed=8)
    assert not torch.equal(a.fc.weight, c.fc.weight)


def test_init_scheme():
    model = InceptionV2(num_classes=3, seed=0)
    conv = model.features.stem[0].conv
    fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
    assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.1)
    bn = model.features.stem[0].bn
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    assert model.fc.weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert torch.all(model.fc.bias == 0)


def test_reset_classifier_replaces_both_heads():
    model = InceptionV2(num_classes=3).train()
    model.reset_classifier(10)
    out = model(torch.randn(2, 3, 299, 299))
    assert out.logits.shape == (2, 10) and out.aux_logits.shape == (2, 10)
    assert model.config.num_classes == 10 and model.num_classes == 10


def test_config_object_and_overrides():
    config = InceptionV2Config(num_classes=4, dropout=0.5)
    model = InceptionV2(config, aux_logits=False)
    assert model.config.num_classes == 4 and model.config.dropout == 0.5 and not model.config.aux_logits
    assert isinstance(model.dropout, nn.Dropout) and model.dropout.p == 0.5


def test_feature_info_matches_real_shapes(model3):
    shapes = {}
    hooks = [
        model3.get_submodule(info["module"]).register_forward_hook(
            lambda m, i, o, name=info["module"]: shapes.__setitem__(name, o.shape)
        )
        for info in model3.feature_info()
    ]
    with torch.no_grad():
        model3(torch.randn(1, 3, 299, 299))
    for h in hooks:
        h.remove()
    expected_reduction = {"features.stem": 8, "features.reduction_1": 16, "features.mixed_7": 32}
    for info in model3.feature_info():
        assert shapes[info["module"]][1] == info["num_chs"]
        if info["module"] in expected_reduction:
            assert info["reduction"] == expected_reduction[info["module"]]


@pytest.mark.parametrize("n", [3, 5, 7])
def test_f6_kernel_length_is_configurable(n):
    module = InceptionModuleF6(768, width=64, n=n).eval()
    out = module(torch.randn(1, 768, 17, 17))
    assert out.shape == (1, 768, 17, 17)
    kernels = [m.kernel_size for m in module.branch_nxn.modules() if isinstance(m, nn.Conv2d)]
    assert kernels == [(1, 1), (1, n), (n, 1)]


def test_f6_rejects_even_kernel():
    with pytest.raises(ValueError, match="odd kernel"):
        InceptionModuleF6(768, n=4)


def test_model_with_other_f6_kernel_and_widths_runs():
    model = InceptionV2(num_classes=2, f6_n=3, f6_widths=(96, 96), aux_logits=False).eval()
    assert len(model.features.mixed_6) == 2
    assert model(torch.randn(1, 3, 139, 139)).shape == (1, 2)


def test_grid_reduction_widths_are_configurable():
    module = GridReduction(384, (384, 384), (384, 384)).eval()
    assert module.out_channels == 1152
    assert module(torch.randn(1, 384, 35, 35)).shape == (1, 1152, 17, 17)


def test_f7_concatenates_fork_arms_to_2048():
    module = InceptionModuleF7(1280).eval()
    parts = module._forward(torch.randn(1, 1280, 8, 8))
    assert [p.shape[1] for p in parts] == [768, 768, 192, 320]
    assert module.out_channels == 2048
