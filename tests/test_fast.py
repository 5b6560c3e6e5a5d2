"""The inference fast path: equivalence with eager on non-trivial BatchNorm, no mutation, the packed
oneDNN convolutions, what the profilers report, measurements."""

from __future__ import annotations

import collections
import copy
import os

import pytest
import torch
from torch import nn

from inception_lib import InceptionV2
from inception_lib.analysis.costs import inference_mult_adds
from inception_lib.analysis.factorization import conv_stack
from inception_lib.analysis.summary import summarize
from inception_lib.draw.encode import figure_png
from inception_lib.draw.inference import memory_order_figure, throughput_html
from inception_lib.explorers.fast import throughput_explorer
from inception_lib.inference.fast_path import (
    BF16_TOLERANCE,
    FP32_TOLERANCE,
    InferenceModel,
    fold_batchnorm,
    optimize_for_inference,
    randomize_batchnorm_,
    relative_error,
)
from inception_lib.inference.packed import PackedConvReLU, pack_convolutions
from inception_lib.inference.profiling import onednn_primitives, operator_times
from inception_lib.inference.timing import (
    ALL_SETTINGS,
    EAGER,
    FastPathTimings,
    FastSettings,
    measure_fast_path,
    measure_interleaved,
    time_modules,
)
from inception_lib.model import BasicConv2d


@pytest.fixture(scope="module")
def model() -> InceptionV2:
    """Design-document model whose every BatchNorm has random statistics and affine parameters."""
    return randomize_batchnorm_(InceptionV2(num_classes=3, seed=0), seed=1).eval()


@pytest.fixture(scope="module")
def small() -> InceptionV2:
    """A shorter network (one F5, one F6) for tests of measuring and counting, where size is irrelevant."""
    return InceptionV2(num_classes=3, f5_repeats=1, f6_widths=(64,), seed=0).eval()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(2, 3, 75, 75, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def reference(model, x) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


def test_randomized_batchnorm_changes_the_output(model, x, reference):
    plain = InceptionV2(num_classes=3, seed=0).eval()
    with torch.no_grad():
        assert relative_error(plain(x), reference) > 0.1  # folding is tested on statistics that matter
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(bn.running_var.std() > 0.1 and bn.weight.std() > 0.1 for bn in bns)


@pytest.mark.parametrize("channels_last", [False, True])
def test_fp32_fast_path_matches_eager(model, x, reference, channels_last):
    fast = optimize_for_inference(model, channels_last=channels_last)
    out = fast(x)
    assert out.dtype == torch.float32 and out.shape == reference.shape
    assert relative_error(out, reference) < FP32_TOLERANCE


def test_bf16_fast_path_is_close_but_really_bf16(model, x, reference):
    out = optimize_for_inference(model, bf16=True)(x)
    assert out.dtype == torch.float32
    error = relative_error(out, reference)
    assert 1e-4 < error < BF16_TOLERANCE  # above fp32 rounding: autocast did run in bfloat16
    assert torch.equal(out.argmax(1), reference.argmax(1))


def test_bf16_weights_compute_what_autocast_computes(model, x):
    """Autocast casts each weight to bf16 on every call, and the ops between convolutions keep the
    bf16 they receive: the result is that of a bf16 copy of the weights, cast once."""
    folded = fold_batchnorm(model).to(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = folded(x.contiguous(memory_format=torch.channels_last)).float()
    weights = optimize_for_inference(model, bf16=True)
    assert next(weights.model.parameters()).dtype == torch.bfloat16
    assert relative_error(weights(x), autocast) < FP32_TOLERANCE


@pytest.mark.parametrize("bf16", [False, True])
def test_packed_path_matches_eager(model, x, reference, bf16):
    fast = optimize_for_inference(model, bf16=bf16, pack=True, input_shape=tuple(x.shape))
    packed = [m for m in fast.model.modules() if isinstance(m, PackedConvReLU)]
    left = [name for name, m in fast.model.named_modules() if isinstance(m, BasicConv2d)]
    reached = [name for name, m in model.named_modules() if isinstance(m, BasicConv2d) and ".aux." not in name]
    assert len(packed) == len(reached) and all(".aux." in name for name in left)  # eval never reaches the aux head
    assert all(m.dtype == (torch.bfloat16 if bf16 else torch.float32) for m in packed)
    error = relative_error(fast(x), reference)
    assert error < (BF16_TOLERANCE if bf16 else FP32_TOLERANCE)
    other = x[:1]  # another batch size than the one packed for: slower, still right
    assert relative_error(fast(other), reference[:1]) < (BF16_TOLERANCE if bf16 else FP32_TOLERANCE)


def test_packing_needs_folded_channels_last_convolutions(model):
    with pytest.raises(ValueError, match="pack=True needs fold_bn=True and channels_last=True"):
        optimize_for_inference(model, fold_bn=False, pack=True)
    with pytest.raises(ValueError, match="fold it into the convolutions first"):
        pack_convolutions(model, (1, 3, 75, 75))
    with pytest.raises(ValueError, match=r"input_shape must be \(N, C, H, W\)"):
        pack_convolutions(fold_batchnorm(model), (3, 75, 75))


def test_profilers_see_the_fused_kernels_and_no_reorders(model, x):
    eager, packed = InferenceModel(model), optimize_for_inference(model, pack=True, input_shape=tuple(x.shape))
    ops = operator_times(lambda: packed(x), calls=1, warmup=1)
    assert "mkldnn::_convolution_pointwise" in ops and "aten::native_batch_norm" not in ops
    assert "aten::native_batch_norm" in operator_times(lambda: eager(x), calls=1, warmup=1)
    kernels = [(p.kind, n) for p, (n, _) in onednn_primitives(lambda: packed(x), warmup=1).items()]
    assert "reorder" not in {kind for kind, _ in kernels}  # the weights were reordered once, when packing
    convolutions = sum(isinstance(m, PackedConvReLU) for m in packed.modules())
    assert sum(n for kind, n in kernels if kind == "convolution") == convolutions
    eager_counts = collections.Counter()
    for p, (n, _) in onednn_primitives(lambda: eager(x), warmup=1).items():
        eager_counts[p.kind] += n
    assert eager_counts["reorder"] >= eager_counts["convolution"]  # eager NCHW reorders every convolution's weights
    with pytest.raises(ValueError, match="calls must be at least 1"):
        operator_times(lambda: None, calls=0)


def test_folding_removes_batchnorm_and_its_parameters(model):
    folded = fold_batchnorm(model)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    # Each BatchNorm's γ and β (2C) go; its convolution gains a bias b' (C).
    dropped = sum(bn.num_features for bn in bns)
    count = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for p in folded.parameters()) == count - dropped


def test_folding_formula(model):
    block = model.features.stem[0]
    folded = fold_batchnorm(block)
    bn, sigma = block.bn, (block.bn.running_var + block.bn.eps).sqrt()
    torch.testing.assert_close(folded.conv.weight, block.conv.weight * (bn.weight / sigma).view(-1, 1, 1, 1))
    torch.testing.assert_close(folded.conv.bias, bn.bias - bn.weight * bn.running_mean / sigma)


def test_callers_model_is_not_mutated(model):
    before = copy.deepcopy(model.state_dict())
    fast = optimize_for_inference(model, bf16=True)
    assert fast.model is not model and not model.training
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model.features.stem[0].conv.weight.is_contiguous()  # still NCHW
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_channels_last_converts_weights(model):
    fast = optimize_for_inference(model, fold_bn=False)
    weight = fast.model.features.stem[0].conv.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def test_training_mode_is_refused():
    trained = InceptionV2(num_classes=3, seed=0).train()
    with pytest.raises(ValueError, match=r"eval mode \(call model.eval\(\) first\)"):
        optimize_for_inference(trained)
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(trained)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("INCEPTION_TEST_COMPILE") != "1",
    reason="torch.compile takes minutes cold on 2 cores; set INCEPTION_TEST_COMPILE=1 (the benchmark checks it too)",
)
@pytest.mark.parametrize("pack", [False, True])
def test_compiled_fast_path_matches_eager(model, x, reference, tmp_path, monkeypatch, pack):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", os.environ.get("TORCHINDUCTOR_CACHE_DIR", str(tmp_path)))
    fast = optimize_for_inference(model, pack=pack, input_shape=tuple(x.shape), compile=True)
    assert relative_error(fast(x), reference) < FP32_TOLERANCE


def test_measure_interleaved_rotates_and_counts():
    calls: list[str] = []
    runs = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    seconds = measure_interleaved(runs, rounds=3, warmup=1)
    assert calls == list("abc" + "abc" + "bca" + "cab")
    assert all(len(v) == 3 and min(v) >= 0 for v in seconds.values())
    with pytest.raises(ValueError, match="rounds"):
        measure_interleaved(runs, rounds=0)


def test_inference_mult_adds_skips_the_aux_head(small):
    without_aux = InceptionV2(num_classes=3, f5_repeats=1, f6_widths=(64,), aux_logits=False, seed=0)
    for size in (75, 299):  # at 299×299 the head could run, but eval-mode inference skips it
        expected = summarize(without_aux, (1, 3, size, size), depth=1).total_mult_adds
        assert inference_mult_adds(small, size) == expected
    assert small.features.aux is not None


def _timings() -> FastPathTimings:
    seconds = {s: 1.0 / (1 + s.fold_bn + 2 * s.channels_last + 4 * s.bf16 + 8 * s.pack) for s in ALL_SETTINGS}
    return FastPathTimings(batch=4, size=299, mult_adds=5_000_000_000, seconds=seconds)


def test_timings_arithmetic():
    t = _timings()
    best = FastSettings(True, True, True)
    assert t.images_per_second(best) == pytest.approx(4 * 8)
    assert t.gflops(EAGER) == pytest.approx(2 * 5 * 4)
    assert t.speedup(best) == pytest.approx(8)
    assert best.label == "fold+NHWC+bf16" and EAGER.label == "eager"
    assert len(ALL_SETTINGS) == 10 and all(s.fold_bn and s.channels_last for s in ALL_SETTINGS if s.pack)
    assert FastSettings(True, True, True, True).label == "fold+NHWC+bf16+packed"


def test_measure_fast_path_reports_every_setting(small):
    settings = [FastSettings(True, True, False)]  # eager is always added: speedups are relative to it
    t = measure_fast_path(small, batch=1, size=75, rounds=1, settings=settings, mult_adds=7)
    assert set(t.seconds) == {EAGER, *settings} and all(s > 0 for s in t.seconds.values())
    assert t.mult_adds == 7 and t.gflops(EAGER) == pytest.approx(2 * 7 / t.seconds[EAGER] / 1e9)


def test_throughput_html_follows_the_controls():
    t = _timings()
    html = throughput_html(t, fold_bn=True, channels_last=True, bf16=False)
    assert "<b>fold+NHWC</b>: 4.00× eager" in html
    assert '<tr style="background:#fff4b8;font-weight:bold"><td>fold+NHWC</td>' in html
    assert html != throughput_html(t, bf16=True) and html != throughput_html(t, metric="GFLOP/s")
    with pytest.raises(ValueError, match="metric must be one of"):
        throughput_html(t, metric="fps")
    partial = FastPathTimings(batch=1, size=75, mult_adds=1, seconds={EAGER: 1.0})
    with pytest.raises(ValueError, match="was not measured"):
        throughput_html(partial)


def test_memory_order_figure_checks_its_size():
    assert figure_png(memory_order_figure(2, 2, 2)) != figure_png(memory_order_figure(3, 2, 2))
    with pytest.raises(ValueError, match="channels"):
        memory_order_figure(channels=9)


def test_memory_order_figure_uses_real_strides():
    titles = [ax.get_title(loc="left") for ax in memory_order_figure(3, 2, 3).axes]
    assert titles == ["NCHW (contiguous): strides (18, 6, 3, 1)", "NHWC (channels_last): strides (18, 1, 9, 3)"]


def test_throughput_explorer_redraws_on_each_control():
    explorer = throughput_explorer(_timings())
    seen = {explorer.html.value}
    for name, value in [("fold_bn", False), ("channels_last", False), ("bf16", True), ("metric", "images/s")]:
        explorer.set(**{name: value})
        seen.add(explorer.html.value)
    assert len(seen) == 5 and "<b>bf16</b>" in explorer.html.value


def test_throughput_explorer_keeps_packing_consistent():
    explorer = throughput_explorer(_timings())
    explorer.set(fold_bn=False)
    explorer.set(pack=True)  # packing needs folding and channels_last: both come back on
    assert explorer.values() | {"metric": None} == dict(
        fold_bn=True, channels_last=True, bf16=False, pack=True, metric=None
    )
    assert "<b>fold+NHWC+packed</b>" in explorer.html.value
    explorer.set(channels_last=False)
    assert explorer.values()["pack"] is False and "<b>fold</b>" in explorer.html.value


def test_time_modules_times_each_module_and_leaves_meta_layers_alone():
    calls: list[str] = []

    class Counted(nn.Module):
        def forward(self, x):
            calls.append("counted")
            return x

    stack = conv_stack([(3, 3), (3, 3)], 8)  # the cost calculators' layers live on the meta device
    times = time_modules({"stack": stack, "counted": Counted()}, (8, 9, 9), rounds=3)
    assert list(times) == ["stack", "counted"] and all(t >= 0 for t in times.values())
    assert len(calls) == 1 + 3  # one warm-up call, then one per round
    assert all(p.is_meta for p in stack.parameters())


def test_throughput_explorer_has_a_view_at_every_point_of_its_site_grid():
    """The site's copy has no link between the checkboxes: packing without folding shows the packed view."""
    frames = throughput_explorer(_timings()).frames()
    assert len(frames["frames"]) == 2 * 2 * 2 * 2 * 3
    names = [c["name"] for c in frames["controls"]]
    point = {"fold_bn": 0, "channels_last": 0, "bf16": 0, "pack": 1, "metric": 0}  # off, off, off, on
    index = 0
    for control in frames["controls"]:
        index = index * len(control["labels"]) + point[control["name"]]
    assert names == list(point) and "<b>fold+NHWC+packed</b>" in frames["frames"][index]["html"]
