"""Bad input raises ValueError saying what was wrong and what is allowed."""

from __future__ import annotations

import pytest
import torch

from inception_lib import InceptionV2


@pytest.fixture(scope="module")
def no_aux() -> InceptionV2:
    return InceptionV2(num_classes=3, aux_logits=False, seed=0).eval()


def test_minimum_sizes_are_derived_from_layers(model3, no_aux):
    assert no_aux.min_input_size == 75
    assert model3.min_input_size == 75
    assert model3.min_input_size_aux == 299
    assert no_aux.min_input_size_aux is None


def test_minimum_size_is_tight(no_aux):
    with torch.no_grad():
        assert no_aux(torch.randn(1, 3, 75, 75)).shape == (1, 3)
        # One pixel less and PyTorch itself fails inside the network: the check is not too strict.
        with pytest.raises(RuntimeError):
            no_aux.features(torch.randn(1, 3, 74, 74))


def test_aux_minimum_is_tight():
    model = InceptionV2(num_classes=3, seed=0).eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 299, 299), with_aux=True)
        with pytest.raises(RuntimeError):
            model.features(torch.randn(1, 3, 298, 298), with_aux=True)


@pytest.mark.parametrize(
    ("x", "pattern"),
    [
        (torch.randn(3, 299, 299), r"4-D tensor.*got 3-D.*unsqueeze"),
        (torch.randn(1, 1, 3, 299, 299), r"4-D tensor.*got 5-D"),
        (torch.randn(1, 1, 299, 299), r"3 input channels.*got 1"),
        (torch.randn(1, 4, 299, 299), r"3 input channels.*got 4"),
        (torch.zeros(1, 3, 299, 299, dtype=torch.uint8), r"floating-point.*torch.uint8"),
        (torch.randn(1, 3, 74, 200), r"74x200 is too small.*without the auxiliary head.*75x75"),
    ],
    ids=["rank-3", "rank-5", "1-channel", "4-channel", "uint8", "too-small"],
)
def test_bad_input_names_value_and_rule(no_aux, x, pattern):
    with pytest.raises(ValueError, match=pattern):
        no_aux(x)


def test_not_a_tensor(no_aux):
    with pytest.raises(ValueError, match=r"torch\.Tensor.*list"):
        no_aux([[1.0]])


def test_aux_head_in_training_needs_299():
    model = InceptionV2(num_classes=3).train()
    with pytest.raises(ValueError, match=r"with the auxiliary head needs at least 299x299.*eval\(\)"):
        model(torch.randn(2, 3, 298, 298))


def test_batch_of_one_in_training_reaching_1x1_grid():
    model = InceptionV2(num_classes=3).train()
    with pytest.raises(ValueError, match=r"batch of 1.*BatchNorm.*batch of 2"):
        model(torch.randn(1, 3, 299, 299))
    small = InceptionV2(num_classes=3, aux_logits=False).train()
    with pytest.raises(ValueError, match=r"batch of 1 at 75x75"):
        small(torch.randn(1, 3, 75, 75))


def test_forward_features_checks_too(no_aux):
    with pytest.raises(ValueError, match="3 input channels"):
        no_aux.forward_features(torch.randn(1, 2, 299, 299))
