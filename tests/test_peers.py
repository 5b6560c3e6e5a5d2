"""The peers of the benchmark: the ONNX export and ONNX Runtime / OpenVINO on it (only where the
optional extra is installed: `pip install .[peers]`; skipped otherwise), and the clear error without it."""

from __future__ import annotations

import pytest
import torch

from inception_lib import InceptionV2
from inception_lib.inference import peers
from inception_lib.inference.fast_path import BF16_TOLERANCE, FP32_TOLERANCE, randomize_batchnorm_, relative_error

SIZE = 75  # the smallest input the network takes without its auxiliary head: a fast export


@pytest.fixture(scope="module")
def model() -> InceptionV2:
    small = InceptionV2(num_classes=3, f5_repeats=1, f6_widths=(64,), seed=0)
    return randomize_batchnorm_(small, seed=1).eval()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def onnx_file(model, tmp_path_factory):
    pytest.importorskip("onnx", reason="the optional peers are not installed (pip install .[peers])")
    return peers.export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx", size=SIZE)


def test_a_missing_runtime_says_how_to_install_it():
    with pytest.raises(ImportError, match=r"no_such_runtime is not installed: install the optional peers with"):
        peers._runtime("no_such_runtime")
    assert set(peers.installed_peers()) <= set(peers.RUNTIMES)


def test_export_keeps_the_network_and_frees_the_batch(onnx_file, model):
    import onnx

    graph = onnx.load(str(onnx_file)).graph
    onnx.checker.check_model(str(onnx_file))
    assert [i.name for i in graph.input] == ["images"] and [o.name for o in graph.output] == ["logits"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    convolutions = sum(1 for node in graph.node if node.op_type == "Conv")
    reached = sum(1 for name, _ in model.named_modules() if name.endswith(".conv") and ".aux." not in name)
    assert convolutions == reached  # every convolution of the eval forward, none of the auxiliary head


def test_onnxruntime_matches_eager(onnx_file, model, x):
    pytest.importorskip("onnxruntime", reason="the optional peers are not installed (pip install .[peers])")
    with torch.no_grad():
        reference = model(x)
    logits = peers.onnxruntime_engine(onnx_file, threads=1)(x)  # batch 3 through a graph traced at batch 1
    assert logits.dtype == torch.float32 and logits.shape == reference.shape
    assert relative_error(logits, reference) < FP32_TOLERANCE
    times = peers.onnxruntime_op_times(onnx_file, 1, x[:1], calls=1)
    assert times and all(ms >= 0 for ms in times.values()) and any("Conv" in op for op in times)


def test_openvino_matches_eager(onnx_file, model, x):
    pytest.importorskip("openvino", reason="the optional peers are not installed (pip install .[peers])")
    with torch.no_grad():
        reference = model(x)
    assert relative_error(peers.openvino_engine(onnx_file, 1, "fp32")(x), reference) < FP32_TOLERANCE
    with pytest.raises(ValueError, match="precision must be one of"):
        peers.openvino_engine(onnx_file, 1, "fp16")
    if peers.openvino_supports_bf16():
        error = relative_error(peers.openvino_engine(onnx_file, 1, "bf16")(x), reference)
        assert FP32_TOLERANCE < error < BF16_TOLERANCE  # really computed in bf16


def test_peer_engines_name_every_installed_runtime(model, x, tmp_path):
    engines = peers.peer_engines(model, tmp_path, threads=1, size=SIZE)
    installed = peers.installed_peers()
    assert ("ONNX Runtime fp32" in engines) == ("ONNX Runtime" in installed)
    assert ("OpenVINO fp32" in engines) == ("OpenVINO" in installed)
    assert all(engine(x).shape == (3, 3) for engine in engines.values())
