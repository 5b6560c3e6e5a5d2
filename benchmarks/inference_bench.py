"""Inference against what a user would pick instead: the project's PyTorch paths beside ONNX Runtime
and OpenVINO, same model, same input, interleaved in one run per batch size.

``benchmarks/run.py`` runs this file in a child process, twice: once with OpenMP's threads spinning
briefly before they sleep (``GOMP_SPINCOUNT``, as PyTorch runs when nothing is set; the peers' own
thread pools spin by default too), once under the Makefile's ``OMP_WAIT_POLICY=PASSIVE``. The child
writes its Markdown sections and figures as JSON to ``--output``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(ROOT / "build" / "inductor-cache"))

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from common import Report, table  # noqa: E402

from inception_lib import InceptionV2  # noqa: E402
from inception_lib.analysis.costs import inference_mult_adds  # noqa: E402
from inception_lib.inference import peers  # noqa: E402
from inception_lib.inference.fast_path import (  # noqa: E402
    BF16_TOLERANCE,
    FP32_TOLERANCE,
    InferenceModel,
    fold_batchnorm,
    optimize_for_inference,
    randomize_batchnorm_,
    relative_error,
)
from inception_lib.inference.profiling import onednn_primitives, operator_times  # noqa: E402
from inception_lib.inference.timing import measure_interleaved  # noqa: E402

EAGER = "eager fp32 (NCHW)"


@dataclass
class Contender:
    run: Callable[[torch.Tensor], torch.Tensor]
    precision: str
    peer: bool = False


def autocast_path(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The fast path as it was: bf16 autocast over a folded, channels_last float32 copy."""
    folded = fold_batchnorm(model).to(memory_format=torch.channels_last)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            return folded(x.contiguous(memory_format=torch.channels_last)).float()

    return run


def project_paths(model: torch.nn.Module, shape: tuple[int, ...], with_compile: bool) -> dict[str, Contender]:
    paths = {EAGER: Contender(InferenceModel(model), "fp32")}
    for precision in ("fp32", "bf16"):
        bf16 = precision == "bf16"
        if bf16:
            paths["bf16 autocast, fold BN + channels_last"] = Contender(autocast_path(model), "bf16")
        paths[f"fold BN + channels_last {precision}"] = Contender(optimize_for_inference(model, bf16=bf16), precision)
        paths[f"packed oneDNN {precision}"] = Contender(
            optimize_for_inference(model, bf16=bf16, pack=True, input_shape=shape), precision
        )
        if with_compile:
            paths[f"compiled, freezing {precision}"] = Contender(
                optimize_for_inference(model, bf16=bf16, compile=True), precision
            )
            paths[f"compiled packed {precision}"] = Contender(
                optimize_for_inference(model, bf16=bf16, pack=True, input_shape=shape, compile=True), precision
            )
    return paths


def peer_paths(model: torch.nn.Module, folder: Path) -> dict[str, Contender]:
    return {
        name: Contender(engine, name.rsplit(" ", 1)[1], peer=True)
        for name, engine in peers.peer_engines(model, folder).items()
    }


def best(seconds: dict[str, list[float]], names: list[str]) -> str:
    return min(names, key=lambda name: statistics.median(seconds[name]))


def compare(report: Report, model, peer_runs, batch: int, rounds: int, with_compile: bool, mult_adds: int) -> dict:
    """One interleaved run of every path at ``batch``; returns what the ratio and profile sections need."""
    x = torch.randn(batch, 3, 299, 299, generator=torch.Generator().manual_seed(0))
    torch._dynamo.reset()  # every compiled copy shares InceptionV2.forward, whose recompile limit is 8
    paths = project_paths(model, tuple(x.shape), with_compile)
    compile_seconds = {}
    for name, path in paths.items():
        if name.startswith("compiled"):
            start = time.perf_counter()
            path.run(x)  # compiles for this shape (cached in TORCHINDUCTOR_CACHE_DIR)
            compile_seconds[name] = time.perf_counter() - start
    paths |= peer_runs
    reference = paths[EAGER].run(x)
    errors = {name: relative_error(path.run(x), reference) for name, path in paths.items()}
    reorders = {
        name: sum(n for p, (n, _) in onednn_primitives(lambda p=path: p.run(x)).items() if p.kind == "reorder")
        for name, path in paths.items()
        if not path.peer
    }
    seconds = measure_interleaved({name: (lambda p=path: p.run(x)) for name, path in paths.items()}, rounds)
    eager = statistics.median(seconds[EAGER])
    cells = {}
    for precision in ("fp32", "bf16"):
        mine = [n for n, p in paths.items() if p.precision == precision and not p.peer]
        theirs = [n for n, p in paths.items() if p.precision == precision and p.peer]
        if theirs:
            cells[precision] = (best(seconds, mine), best(seconds, theirs))
    rows = []
    for name, path in paths.items():
        median = statistics.median(seconds[name])
        peer = cells.get(path.precision, (None, None))[1]
        versus = f"{statistics.median(seconds[peer]) / median:.2f}×" if peer and not path.peer else "—"
        tolerance = BF16_TOLERANCE if path.precision == "bf16" else FP32_TOLERANCE
        error = f"{errors[name]:.1e}" + ("" if errors[name] < tolerance else " TOO LARGE")
        rows.append(
            (
                f"**{name}**" if path.peer else name,
                f"{min(seconds[name]) * 1e3:.1f} / {median * 1e3:.1f} / {max(seconds[name]) * 1e3:.1f}",
                f"{batch / median:.1f}",
                f"{2 * mult_adds * batch / median / 1e9:.0f}",
                f"{eager / median:.2f}×",
                versus,
                "reference" if name == EAGER else error,
                reorders.get(name, "—"),
            )
        )
        report.figures[f"b{batch} {name}"] = eager / median
        report.figures[f"b{batch} {name} gflops"] = 2 * mult_adds * batch / median / 1e9
        report.figures[f"b{batch} {name} error"] = errors[name]
    text = table(
        (
            "path (peers in bold)",
            "ms min / median / max",
            "images/s",
            "GFLOP/s",
            "vs eager",
            "speed vs best peer, same precision",
            "max |Δ| / max |logit| vs eager",
            "oneDNN reorders per call",
        ),
        rows,
    )
    text += (
        f"\n\n{rounds} interleaved rounds after one warm-up call each, threads = {torch.get_num_threads()} (cores) for "
        "every engine; medians. *packed oneDNN*: folded, channels_last, each convolution + bias + ReLU one oneDNN call "
        "with weights reordered once for this input shape (`pack=True`); *compiled packed*: that model through "
        "`torch.compile` (inductor fuses the pooling, concatenations and what is left); *compiled, freezing*: "
        "inductor's own weight packing of the folded model. Peers run the ONNX file `torch.onnx.export` wrote from "
        "the same model. Reorders counted from oneDNN's verbose log, one call."
    )
    if compile_seconds:
        text += " First calls (compilation): " + ", ".join(f"{n} {s:.0f} s" for n, s in compile_seconds.items()) + "."
    report.add(f"Inference at batch {batch}, 299×299: the project's paths and the peers", text)
    return {"x": x, "paths": paths, "seconds": seconds, "cells": cells}


def ratios(report: Report, runs: dict[int, dict], note: str) -> None:
    rows = []
    for batch, run in runs.items():
        for precision, (mine, theirs) in run["cells"].items():
            mine_s, theirs_s = (statistics.median(run["seconds"][n]) for n in (mine, theirs))
            ratio = theirs_s / mine_s
            report.figures[f"ratio {precision} b{batch}"] = ratio
            rows.append(
                (
                    precision,
                    batch,
                    f"{mine} ({mine_s * 1e3:.1f} ms)",
                    f"{theirs} ({theirs_s * 1e3:.1f} ms)",
                    f"**{ratio:.2f}×**",
                    "at least as fast" if ratio >= 1 else f"behind by {1 - ratio:.0%} of the peer's speed",
                )
            )
            missed = "" if ratio >= 1 else f"short by {1 - ratio:.0%}"
            report.target(f"project vs best peer, {precision}, batch {batch}", "≥ 1.00×", f"{ratio:.2f}×", missed)
    text = table(("precision", "batch", "project's fastest", "fastest peer", "project speed ÷ peer speed", ""), rows)
    text += "\n\nRatios of medians from one interleaved run per batch."
    report.add(f"The project against the best peer, per cell ({note})", text)


def profile_cell(report: Report, model, run: dict, precision: str, batch: int, folder: Path) -> None:
    """Where the time goes in the project's fastest path and in the fastest peer, for one cell."""
    mine, theirs = run["cells"][precision]
    x, paths = run["x"], run["paths"]
    path = paths[mine].run
    if mine.startswith("compiled packed"):  # the same code, with a profiler marker around each generated kernel
        torch._dynamo.reset()
        options = {"cpp_wrapper": True, "cpp.enable_kernel_profile": True}
        path = optimize_for_inference(
            model, bf16=precision == "bf16", pack=True, input_shape=tuple(x.shape), compile=options
        )
        path(x)
    ops = operator_times(lambda: path(x))
    kernels = onednn_primitives(lambda: path(x))
    onnx = folder / "model.onnx"
    if theirs.startswith("OpenVINO"):
        layers = peers.openvino_layer_times(onnx, torch.get_num_threads(), precision, x)
    else:
        layers = peers.onnxruntime_op_times(onnx, torch.get_num_threads(), x)
    conv_op = sum(ms for op, ms in ops.items() if "convolution" in op)
    conv_calls = sum(n for p, (n, _) in kernels.items() if p.kind == "convolution")
    conv_kernels = sum(ms for p, (_, ms) in kernels.items() if p.kind == "convolution")
    reorder_calls = sum(n for p, (n, _) in kernels.items() if p.kind == "reorder")
    reorder_ms = sum(ms for p, (_, ms) in kernels.items() if p.kind == "reorder")
    peer_conv = sum(ms for layer, ms in layers.items() if layer.startswith(("Convolution", "Conv", "FusedConv")))
    pools = sum(ms for op, ms in ops.items() if "pool" in op), sum(ms for op, ms in layers.items() if "Pool" in op)
    per_call = (conv_op - conv_kernels - reorder_ms) / max(1, conv_calls) * 1e3
    top_ops, top_layers = list(ops.items())[:8], list(layers.items())[:8]
    rows = [
        (
            f"`{top_ops[i][0][:60]}`" if i < len(top_ops) else "",
            f"{top_ops[i][1]:.2f}" if i < len(top_ops) else "",
            f"`{top_layers[i][0][:60]}`" if i < len(top_layers) else "",
            f"{top_layers[i][1]:.2f}" if i < len(top_layers) else "",
        )
        for i in range(max(len(top_ops), len(top_layers)))
    ]
    text = table((f"{mine}: operator", "ms per call", f"{theirs}: layer (kernel)", "ms per call"), rows)
    text += (
        f"\n\nConvolutions: the project's operators take {conv_op:.2f} ms for {conv_calls} calls. oneDNN's own clock "
        f"puts {conv_kernels:.2f} ms of that in convolution kernels and {reorder_ms:.2f} ms in {reorder_calls} layout "
        f"reorders; the remaining {conv_op - conv_kernels - reorder_ms:.2f} ms ({per_call:.0f} µs per call) is "
        f"PyTorch's work around each call (dispatch, output allocation, oneDNN primitive lookup). {theirs}'s "
        f"convolutions take {peer_conv:.2f} ms in all. Max-pooling: {pools[0]:.2f} ms against {pools[1]:.2f} ms "
        "(inductor generates kernels that compute a concatenation and the max-pooling of the next module in one pass: "
        "`cpp_fused_cat_max_pool2d…`). torch.profiler self times, oneDNN's verbose log, OpenVINO's and ONNX Runtime's "
        "own counters; the least disturbed of a few calls each."
    )
    report.add(f"Profile, {precision} batch {batch}: {mine} against {theirs}", text)


def compile_levers(report: Report, model, rounds: int) -> None:
    """Inductor's options on the bf16 path at batch 1, where per-call overheads weigh most."""
    x = torch.randn(1, 3, 299, 299, generator=torch.Generator().manual_seed(0))
    shape = tuple(x.shape)
    torch._dynamo.reset()
    variants = {
        "packed, eager": optimize_for_inference(model, bf16=True, pack=True, input_shape=shape),
        "packed + inductor, Python wrapper": optimize_for_inference(
            model, bf16=True, pack=True, input_shape=shape, compile={"cpp_wrapper": False}
        ),
        "packed + inductor, C++ wrapper (compile=True)": optimize_for_inference(
            model, bf16=True, pack=True, input_shape=shape, compile=True
        ),
        "inductor freezing": optimize_for_inference(model, bf16=True, compile=True),
        "inductor freezing + max-autotune": optimize_for_inference(
            model, bf16=True, compile={"freezing": True, "max_autotune": True}
        ),
    }
    first = {}
    for name, fast in variants.items():
        start = time.perf_counter()
        fast(x)
        first[name] = time.perf_counter() - start
    seconds = measure_interleaved({name: (lambda f=fast: f(x)) for name, fast in variants.items()}, rounds)
    base = statistics.median(seconds["packed, eager"])
    rows = [
        (name, f"{statistics.median(s) * 1e3:.1f}", f"{base / statistics.median(s):.2f}×", f"{first[name]:.0f}")
        for name, s in seconds.items()
    ]
    text = table(("bf16, batch 1", "ms (median)", "speed vs packed eager", "first call s"), rows)
    report.add("Compiler options (bf16, batch 1)", text + f"\n\n{rounds} interleaved rounds.")


def int8_lever(report: Report, rounds: int, test_images: int) -> None:
    """int8 post-training quantization of the shipped trained network: accuracy on fresh test images, speed."""
    import warnings

    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    from inception_lib.assets.weights import trained_model
    from inception_lib.training.data import ShapesDataset

    class Logits(torch.nn.Module):  # the eval forward without its input checks, which FX cannot trace
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net.forward_head(self.net.features(x)[0])

    net = trained_model()
    size = 299
    calibration = ShapesDataset(32, image_size=size, split="val")
    test = ShapesDataset(test_images, image_size=size, split="test")
    calibrate = torch.stack([calibration[i][0] for i in range(len(calibration))])
    images = torch.stack([test[i][0] for i in range(len(test))])
    labels = torch.tensor([test.label(i) for i in range(len(test))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation and observer notices
        torch.backends.quantized.engine = "x86"
        prepared = prepare_fx(Logits(copy.deepcopy(net)).eval(), get_default_qconfig_mapping("x86"), (calibrate[:1],))
        with torch.no_grad():
            for start in range(0, len(calibrate), 8):
                prepared(calibrate[start : start + 8])
        int8 = convert_fx(prepared)
    paths = {
        "eager fp32": InferenceModel(net),
        "packed oneDNN bf16": optimize_for_inference(net, bf16=True, pack=True, input_shape=(1, 3, size, size)),
        "int8 (FX post-training quantization, x86 backend)": InferenceModel(int8),
    }
    rows = []
    reference = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, path in paths.items():
            logits = torch.cat([path(images[i : i + 25]) for i in range(0, len(images), 25)])
            reference = logits if reference is None else reference
            accuracy = (logits.argmax(1) == labels).float().mean().item()
            agree = (logits.argmax(1) == reference.argmax(1)).float().mean().item()
            rows.append([name, f"{accuracy:.1%}", f"{agree:.1%}", f"{relative_error(logits, reference):.1e}"])
            report.figures[f"int8 lever {name} accuracy"] = accuracy
        x = images[:1]
        seconds = measure_interleaved({name: (lambda p=path: p(x)) for name, path in paths.items()}, rounds)
    for row, name in zip(rows, paths, strict=True):
        row.append(f"{statistics.median(seconds[name]) * 1e3:.1f}")
    text = table(
        (
            "shipped trained network (width 0.5)",
            "test accuracy",
            "same class as fp32",
            "max |Δ| / max |logit|",
            "ms, batch 1",
        ),
        rows,
    )
    text += (
        f'\n\n{len(test)} fresh `ShapesDataset(split="test")` images at {size}×{size}; calibration on 32 '
        '`split="val"` images. Static int8 quantization with `torch.ao.quantization.quantize_fx` (deprecated by '
        "PyTorch in favour of the separate torchao package, which this project does not install; so the library does "
        f"not ship it). Speed: {rounds} interleaved rounds at batch 1."
    )
    report.add("int8 post-training quantization", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--label", default="", help="what the environment is, for the section titles")
    parser.add_argument("--no-int8", action="store_true", help="leave out the int8 quantization section")
    args = parser.parse_args(argv)
    with_compile = not (args.quick or args.no_compile)
    report = Report()
    # Non-trivial BatchNorm statistics, so that the error column checks the folding for real.
    model = randomize_batchnorm_(InceptionV2(num_classes=3, seed=0), seed=1).eval()
    mult_adds = inference_mult_adds(model, 299)
    with tempfile.TemporaryDirectory() as folder:
        installed = peers.installed_peers()
        peer_runs = peer_paths(model, Path(folder)) if installed else {}
        report.figures["peers installed"] = float(bool(installed))
        if installed:
            versions = ", ".join(f"{name} {version}" for name, version in installed.items())
            report.add(f"Peers ({args.label})", f"{versions}, on the ONNX file `inference.peers` exports.")
        else:
            report.add(f"Peers ({args.label})", f"Not installed: {peers.INSTALL_HINT}. Only the project's paths run.")
        runs = {
            batch: compare(report, model, peer_runs, batch, rounds, with_compile, mult_adds)
            for batch, rounds in ((1, 5 if args.quick else 15), (8, 3 if args.quick else 7))
        }
        if installed:
            ratios(report, runs, args.label)
            for batch, run in runs.items():
                for precision in run["cells"]:
                    mine, theirs = run["cells"][precision]
                    if statistics.median(run["seconds"][mine]) > statistics.median(run["seconds"][theirs]):
                        profile_cell(report, model, run, precision, batch, Path(folder))
    if with_compile:
        compile_levers(report, model, rounds=15)
    if not args.no_int8:
        int8_lever(report, rounds=5 if args.quick else 15, test_images=150 if args.quick else 600)
    result = {"sections": report.sections, "figures": report.figures, "targets": report.targets}
    args.output.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
