"""The same network in two production runtimes, ONNX Runtime and OpenVINO: what a user would pick
instead of the fast path, run on the same exported model for comparison.

Optional: ``pip install .[peers]`` (``make bench`` installs it). Importing this module needs
nothing beyond torch; each function imports its runtime and raises ``ImportError`` saying how to
install it. Every engine takes a float32 N×C×H×W tensor and returns float32 logits as a tensor, so
it is compared with eager PyTorch exactly like the project's own paths.
"""

from __future__ import annotations

import collections
import importlib
import importlib.metadata
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from .fast_path import require_eval

Engine = Callable[[Tensor], Tensor]
RUNTIMES = {"ONNX Runtime": "onnxruntime", "OpenVINO": "openvino"}
INSTALL_HINT = "install the optional peers with `pip install .[peers]` (or `make bench`, which does)"
# ONNX opset 17: the newest that torch.onnx's TorchScript exporter writes every operator of this network in.
OPSET = 17


def installed_peers() -> dict[str, str]:
    """Installed runtimes and their versions, e.g. ``{"ONNX Runtime": "1.32.0", "OpenVINO": "2026.4.1"}``."""
    found = {}
    for name, module in RUNTIMES.items():
        try:
            found[name] = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _runtime(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{module} is not installed: {INSTALL_HINT}") from error


def export_onnx(model: nn.Module, path: str | os.PathLike[str], size: int = 299) -> Path:
    """Write an eval-mode ``model`` to ``path`` as ONNX (batch size left free) and return the path.

    ``torch.onnx.export`` with the TorchScript tracer traces one forward pass on a
    1×3×``size``×``size`` input. The model's input checks are Python ``if``s the tracer cannot
    record; it warns and keeps the branch taken, which is the right one for every valid input.
    The auxiliary head does not run in eval mode, so it is not exported.
    """
    require_eval(model, "export_onnx")
    _runtime("onnx")
    path = Path(path)
    example = torch.zeros(1, 3, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's, which needs no onnxscript
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
        )
    return path


def _onnxruntime_session(path: str | os.PathLike[str], threads: int, profile: bool = False):
    ort = _runtime("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_profiling = profile
    if profile:
        options.profile_file_prefix = str(Path(path).with_suffix("")) + "-ort-profile"
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnxruntime_engine(path: str | os.PathLike[str], threads: int) -> Engine:
    """ONNX Runtime's CPU execution provider on ``threads`` threads, every graph optimization on."""
    session = _onnxruntime_session(path, threads)

    def run(images: Tensor) -> Tensor:
        return torch.from_numpy(session.run(None, {"images": images.float().contiguous().numpy()})[0])

    return run


def openvino_supports_bf16() -> bool:
    """Whether OpenVINO's CPU plugin offers bfloat16 inference on this machine (AVX-512 BF16 or AMX)."""
    ov = _runtime("openvino")
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _openvino_request(path: str | os.PathLike[str], threads: int, precision: str, profile: bool = False):
    hints = {"fp32": "f32", "bf16": "bf16"}
    if precision not in hints:
        raise ValueError(f"precision must be one of {tuple(hints)}, got {precision!r}")
    ov = _runtime("openvino")
    if precision == "bf16" and not openvino_supports_bf16():
        raise ValueError("OpenVINO offers no bf16 on this CPU (it needs AVX-512 BF16 or AMX)")
    config = {"INFERENCE_PRECISION_HINT": hints[precision], "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1}
    compiled = ov.Core().compile_model(str(path), "CPU", {**config, "PERF_COUNT": profile})
    return compiled, compiled.create_infer_request()


def openvino_engine(path: str | os.PathLike[str], threads: int, precision: str = "fp32") -> Engine:
    """OpenVINO's CPU plugin on ``threads`` threads, computing in ``precision`` ("fp32" or "bf16")."""
    compiled, request = _openvino_request(path, threads, precision)

    def run(images: Tensor) -> Tensor:
        result = request.infer({0: images.float().contiguous().numpy()})
        return torch.from_numpy(result[compiled.output(0)].copy())

    return run


def peer_engines(
    model: nn.Module, folder: str | os.PathLike[str], threads: int | None = None, size: int = 299
) -> dict[str, Engine]:
    """Every installed runtime, at every precision it offers here, on ``model`` exported once to ``folder``
    (at ``size``×``size``: the runtimes specialize the graph to that image size; the batch stays free).

    Keys: "ONNX Runtime fp32", "OpenVINO fp32", and "OpenVINO bf16" where the CPU has bf16
    instructions (ONNX Runtime's CPU provider has no bf16 convolution). ``threads``: default
    torch's thread count. Empty when neither runtime is installed.
    """
    peers = installed_peers()
    if not peers:
        return {}
    threads = threads or torch.get_num_threads()
    path = export_onnx(model, Path(folder) / "model.onnx", size)
    engines: dict[str, Engine] = {}
    if "ONNX Runtime" in peers:
        engines["ONNX Runtime fp32"] = onnxruntime_engine(path, threads)
    if "OpenVINO" in peers:
        engines["OpenVINO fp32"] = openvino_engine(path, threads, "fp32")
        if openvino_supports_bf16():
            engines["OpenVINO bf16"] = openvino_engine(path, threads, "bf16")
    return engines


def openvino_layer_times(
    path: str | os.PathLike[str], threads: int, precision: str, images: Tensor, calls: int = 5
) -> dict[str, float]:
    """OpenVINO's own per-layer counters: milliseconds per call by (layer type, kernel), largest
    first. Layers fused into another (a ReLU into its convolution) report no time of their own."""
    _, request = _openvino_request(path, threads, precision, profile=True)
    totals: dict[str, float] = collections.defaultdict(float)
    data = images.float().contiguous().numpy()
    request.infer({0: data})  # the first call builds kernels
    for _ in range(calls):
        request.infer({0: data})
        for layer in request.get_profiling_info():
            totals[f"{layer.node_type} ({layer.exec_type})"] += layer.real_time.total_seconds() * 1e3 / calls
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def onnxruntime_op_times(
    path: str | os.PathLike[str], threads: int, images: Tensor, calls: int = 5
) -> dict[str, float]:
    """ONNX Runtime's profiler: milliseconds per call by operator type (after its graph fusions, e.g.
    FusedConv = convolution + activation), largest first."""
    session = _onnxruntime_session(path, threads, profile=True)
    data = {"images": images.float().contiguous().numpy()}
    session.run(None, data)
    for _ in range(calls):
        session.run(None, data)
    trace = Path(session.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink()
    totals: dict[str, float] = collections.defaultdict(float)
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"] / 1e3 / (calls + 1)
    return dict(sorted(totals.items(), key=lambda item: -item[1]))
