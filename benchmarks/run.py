"""Every performance figure of the project in one command: ``make bench`` (``--quick`` for a short run).

Prints each table as it is measured and writes ``benchmarks/RESULTS.md``: the machine, the measured
ceilings (GEMM, 1×1 convolution), inference at batch 1 and 8 of eager fp32, each of the project's
fast paths and the peers (ONNX Runtime, OpenVINO; ``benchmarks/inference_bench.py``), training
throughput NCHW vs channels_last, the analytic receptive field's cost, the latency of every
explorer's callbacks and, in Chromium, from a control change to the new picture painted, and the
time and peak memory of every notebook; then the project's targets, met or missed by how much.

Timings on a shared machine are noisy: contenders are timed in interleaved rounds (A B C, B C A, ...)
and medians are reported, and the machine's load is recorded before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Before torch is imported: keep inductor's and matplotlib's caches in the repository's build folder.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(ROOT / "build" / "inductor-cache"))
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / "build" / "mplconfig"))
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from common import SPIN_COUNT, Report, shortfall, table  # noqa: E402
from explorers_bench import explorers, painted  # noqa: E402

from inception_lib import InceptionV2  # noqa: E402
from inception_lib.analysis.summary import summarize  # noqa: E402
from inception_lib.inference.timing import measure_interleaved  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")

# The project's targets (issue "Performance").
TARGET_FP32_SPEEDUP = 1.8
TARGET_FP32_OF_CEILING = 0.85
TARGET_BF16_SPEEDUP = 3.5
TARGET_TRAIN_SPEEDUP = 1.3
TARGET_NOTEBOOK_S = 60.0


# --- the machine ---


def cpu_busy_fraction(seconds: float = 2.0) -> float:
    """Fraction of all cores busy over ``seconds`` while this process sleeps: the other users' load."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    flags_line = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    flags = set(flags_line.split(":", 1)[-1].split())
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "CPU": model or platform.processor() or "unknown",
        "cores usable": str(usable),
        "flags": ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in CPU_FLAGS),
        "torch": f"{torch.__version__}, {torch.get_num_threads()} threads, oneDNN {torch.backends.mkldnn.enabled}",
        "python": platform.python_version(),
    }


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


# --- ceilings ---


def ceilings(report: Report, rounds: int) -> None:
    """GFLOP/s of a large GEMM and of 1×1 convolutions shaped like the model's, fp32 and bf16."""
    torch.manual_seed(0)
    cases: dict[str, tuple[Callable[[], object], int]] = {}
    n = 2048
    for dtype, tag in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        cases[f"GEMM {n}³ {tag}"] = (lambda a=a, b=b: a @ b, 2 * n**3)
        # 1×1 convolutions shaped like the model's on its 35×35, 17×17 and 8×8 grids.
        for c_in, c_out, side in ((288, 288, 35), (768, 768, 17), (1280, 448, 8)):
            conv = torch.nn.Conv2d(c_in, c_out, 1, bias=False).to(dtype).to(memory_format=torch.channels_last)
            x = torch.randn(8, c_in, side, side, dtype=dtype).contiguous(memory_format=torch.channels_last)
            cases[f"1×1 conv {c_in}→{c_out} on 8×{side}×{side} {tag}"] = (
                lambda conv=conv, x=x: conv(x),
                2 * 8 * c_in * c_out * side * side,
            )
    with torch.inference_mode():
        seconds = measure_interleaved({name: fn for name, (fn, _) in cases.items()}, rounds, warmup=2)
    rows = []
    for name, (_, flops) in cases.items():
        median, best = statistics.median(seconds[name]), min(seconds[name])
        rows.append((name, f"{flops / median / 1e9:.0f}", f"{flops / best / 1e9:.0f}"))
        if name.startswith("1×1"):
            key = "ceiling_conv_" + name[-4:]
            report.figures[key] = max(report.figures.get(key, 0.0), flops / median / 1e9)
    text = table(("kernel", "GFLOP/s (median)", "GFLOP/s (best)"), rows)
    text += (
        f"\n\nThe 1×1-conv ceiling used below is the fastest of these shapes (median): "
        f"{report.figures['ceiling_conv_fp32']:.0f} GFLOP/s fp32, {report.figures['ceiling_conv_bf16']:.0f} bf16. "
        "A 1×1 convolution in channels_last is one GEMM with no im2col: the most a convolution here can reach."
    )
    report.add("Measured ceilings (batch 8, channels_last, 2 FLOPs per mult-add)", text)


# --- inference (a child process per OpenMP wait policy: libgomp reads it once, at start) ---


def inference(report: Report, quick: bool, no_compile: bool) -> None:
    """``inference_bench.py`` twice: OpenMP threads spinning briefly before they sleep (the main run), then
    under the Makefile's ``OMP_WAIT_POLICY=PASSIVE`` (no compile rows: the wait policy is what changes)."""
    spin = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | {"GOMP_SPINCOUNT": SPIN_COUNT}
    passive = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"} | {"OMP_WAIT_POLICY": "PASSIVE"}
    runs = [
        (spin, f"GOMP_SPINCOUNT={SPIN_COUNT}", ["--quick"] * quick + ["--no-compile"] * no_compile),
        (passive, "OMP_WAIT_POLICY=PASSIVE", ["--quick" if quick else "--no-compile", "--no-int8"]),
    ]
    for env, label, flags in runs:
        with tempfile.TemporaryDirectory() as folder:
            output = Path(folder) / "inference.json"
            command = [sys.executable, str(Path(__file__).parent / "inference_bench.py"), "--output", str(output)]
            done = subprocess.run([*command, "--label", label, *flags], env=env, check=False)
            if done.returncode != 0 or not output.exists():
                report.add(f"Inference ({label})", f"**failed**: `inference_bench.py` exited with {done.returncode}.")
                continue
            result = json.loads(output.read_text())
        report.sections += result["sections"]
        suffix = "" if env is spin else " (PASSIVE)"
        report.figures |= {name + suffix: value for name, value in result["figures"].items()}
        report.targets += [(f"{what}{suffix}", *rest) for what, *rest in result["targets"]]


# --- training ---


def training(report: Report, rounds: int, batch: int = 8) -> None:
    """Images/s of SGD steps (forward with the auxiliary head, backward, update), NCHW vs channels_last."""
    x = torch.randn(batch, 3, 299, 299, generator=torch.Generator().manual_seed(0))
    y = torch.arange(batch) % 3
    steps = {}
    for name, layout in (("NCHW", torch.contiguous_format), ("channels_last", torch.channels_last)):
        model = InceptionV2(num_classes=3, seed=0).train().to(memory_format=layout)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        xs = x.contiguous(memory_format=layout)

        def step(model=model, optimizer=optimizer, xs=xs) -> None:
            logits, aux = model(xs)
            loss = F.cross_entropy(logits, y) + 0.4 * F.cross_entropy(aux, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        steps[name] = step
    seconds = measure_interleaved(steps, rounds)
    nchw = statistics.median(seconds["NCHW"])
    mult_adds = summarize(InceptionV2(num_classes=3, seed=0), (1, 3, 299, 299), depth=1).total_mult_adds
    rows = []
    for name in steps:
        median = statistics.median(seconds[name])
        rows.append(
            (
                name,
                f"{batch / median:.2f}",
                f"{3 * 2 * mult_adds * batch / median / 1e9:.0f}",
                f"{nchw / median:.2f}×",
                f"{median:.2f}",
            )
        )
    report.figures["train speedup"] = nchw / statistics.median(seconds["channels_last"])
    text = table(("layout", "images/s", "≈ GFLOP/s", "vs NCHW", "s per step (median)"), rows)
    text += (
        f"\n\nBatch {batch} at 299×299, cross-entropy on the logits + 0.4 × on the auxiliary logits, SGD, momentum; "
        f"{rounds} interleaved steps after one warm-up step each. GFLOP/s assumes backward ≈ 2 × forward "
        f"({mult_adds / 1e9:.2f} G mult-adds per image forward, auxiliary head included)."
    )
    report.add("Training step, NCHW vs channels_last", text)


# --- analytic receptive field ---


def receptive_field(report: Report, rounds: int) -> None:
    try:
        from inception_lib.analysis.rf import analytic_receptive_fields
    except ImportError as error:
        report.add("Analytic receptive field", f"Not measured: `inception_lib.analysis.rf` is missing ({error}).")
        return
    model = InceptionV2(num_classes=3, seed=0).eval()
    times = []
    for _ in range(rounds + 1):
        start = time.perf_counter()
        fields = analytic_receptive_fields(model, 299)
        times.append(time.perf_counter() - start)
    text = (
        f"`analytic_receptive_fields(model, 299)` over the whole model ({len(fields)} module outputs): "
        f"first call {times[0] * 1e3:.0f} ms, then median {statistics.median(times[1:]) * 1e3:.0f} ms "
        f"over {rounds} calls."
    )
    report.add("Analytic receptive field", text)


# --- notebooks ---


def run_notebook_here(path: Path) -> dict[str, object]:
    """Execute a notebook with nbclient in this process; the kernel is our child, reaped at shutdown."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellExecutionError as failure:
        # The last line names the exception; drop the terminal colour codes of IPython's traceback.
        error = re.sub(r"\x1b\[[0-9;]*m", "", str(failure)).strip().splitlines()[-1][:200]
    wall = time.perf_counter() - start
    # ru_maxrss of RUSAGE_CHILDREN: the peak resident set of the largest reaped descendant, the kernel.
    kernel_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"wall_s": wall, "kernel_peak_mib": kernel_kib / 1024, "error": error}


def notebooks(report: Report) -> None:
    """Each notebook in a fresh subprocess, so each kernel's peak memory is measured on its own."""
    rows = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
        (ROOT / "notebooks" / "solutions").glob("*.ipynb")
    ):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--run-notebook", str(path)], capture_output=True, text=True, check=False
        )
        total = time.perf_counter() - start
        try:
            result = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            result = {"wall_s": total, "kernel_peak_mib": float("nan"), "error": done.stderr.strip()[-200:]}
        wall = float(result["wall_s"])
        missed = "failed" if result["error"] else shortfall(wall, TARGET_NOTEBOOK_S, False)
        report.target(f"notebook `{path.name}`", "≤ 60 s", f"{wall:.0f} s", missed)
        rows.append((path.name, f"{wall:.1f}", f"{result['kernel_peak_mib']:.0f}", result["error"] or "ok"))
    text = table(("notebook", "wall s", "kernel peak RSS MiB", "result"), rows)
    text += (
        "\n\nEach notebook runs top to bottom with nbclient inside a fresh Python subprocess (its working directory "
        "the notebooks folder, as in JupyterLab). Wall time includes the kernel's start (about a second). The peak "
        "RSS is that subprocess's `getrusage(RUSAGE_CHILDREN).ru_maxrss` after the kernel has exited: the largest "
        "resident set of any child it reaped, which is the kernel (psutil is not installed)."
    )
    report.add("Notebooks", text)


# --- targets and the report ---

# Where a target is missed, the likely reason (the report also states the load it ran under).
WHY = {
    "fp32 speedup": "eager NCHW already runs oneDNN convolutions; what folding and channels_last remove is the "
    "layout reorders and the separate BatchNorm pass, and their share shrinks when cores are contended",
    "fp32 ceiling": "only the 1×1 convolutions are plain GEMMs; the 3×3, 1×n and n×1 convolutions, the pooling, "
    "the ReLUs (not fused in eager) and the concatenation copies run below the GEMM rate",
    "bf16 speedup": "bf16 pays only with AVX-512 BF16 or AMX, and only in the convolutions and matrix products; "
    "autocast also casts every weight on each call, and pooling, concatenation and casts stay memory-bound",
    "training": "backward of the small late layers and the optimizer step are layout-independent; their share grows "
    "at small batches",
    "explorer": "the data behind each view is cached or cheap, so the time is matplotlib redrawing a whole figure: "
    "laying out and rasterizing its text (ticks, labels, legends) and encoding the PNG; the fast explorers draw "
    "HTML or SVG or compose a PIL image",
    "painted": "the callback's time plus the widget round trip: the browser sends the new value over the kernel's "
    "websocket, the kernel renders and sends the picture back, the page decodes and paints it; a loaded machine "
    "delays every hop",
    "project": "see the profile section of that cell above: it splits the time into convolution kernels (the same "
    "oneDNN kernels as OpenVINO's), PyTorch's work around each call, and pooling",
    "project (PASSIVE)": "under OMP_WAIT_POLICY=PASSIVE PyTorch's OpenMP threads sleep after every operator and must "
    "be woken for the next one, while the peers' thread pools spin; compare the column *speed vs best peer* of the "
    "same path in the GOMP_SPINCOUNT tables (no compile rows here: only the wait policy differs)",
    "notebook": "the notebook computes more than the 60 s budget allows on this machine, or the machine was loaded",
    "failed": "it raised an error, named in the table above",
}


def check_targets(report: Report, busy: str) -> None:
    f = report.figures
    rows = []

    def figure(what: str, why: str, measured: float, goal: float, unit: str) -> None:
        met = measured >= goal
        shown = f"{measured:.0%}" if unit == "%" else f"{measured:.2f}{unit}"
        wanted = f"≥ {goal:.0%}" if unit == "%" else f"≥ {goal}{unit}"
        rows.append((what, wanted, shown, "met" if met else f"**missed**, {shortfall(measured, goal)}: {WHY[why]}"))

    # The project's own paths against eager, where they were measured (compile rows only in a full run).
    for name in ("packed oneDNN", "compiled packed"):
        fp32, bf16 = f"b8 {name} fp32", f"b8 {name} bf16"
        if fp32 not in f:
            continue
        figure(f"{name} fp32 vs eager, batch 8", "fp32 speedup", f[fp32], TARGET_FP32_SPEEDUP, "×")
        if "ceiling_conv_fp32" in f:
            share = f[f"{fp32} gflops"] / f["ceiling_conv_fp32"]
            figure(
                f"{name} fp32, share of the 1×1-conv fp32 ceiling", "fp32 ceiling", share, TARGET_FP32_OF_CEILING, "%"
            )
        figure(f"{name} bf16 vs eager, batch 8", "bf16 speedup", f[bf16], TARGET_BF16_SPEEDUP, "×")
    if "train speedup" in f:
        figure("training, channels_last vs NCHW, batch 8", "training", f["train speedup"], TARGET_TRAIN_SPEEDUP, "×")
    for what, goal, measured, over in report.targets:  # per explorer and per notebook
        kind = what.split()[0] + (" (PASSIVE)" if what.startswith("project") and what.endswith("(PASSIVE)") else "")
        why = WHY["failed" if over == "failed" else kind]
        rows.append((what, goal, measured, "met" if not over else f"**missed**, {over}: {why}"))
    text = table(("target", "goal", "measured", ""), rows)
    text += f"\n\nMeasured under: {busy}."
    report.add("Targets", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sweep values, no torch.compile")
    parser.add_argument("--no-compile", action="store_true", help="leave out the torch.compile rows")
    parser.add_argument(
        "--skip", action="append", default=[], choices=SECTIONS, help="leave a section out (repeatable)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the report (default: %(default)s)")
    parser.add_argument("--run-notebook", type=Path, help=argparse.SUPPRESS)  # internal: one notebook, JSON out
    args = parser.parse_args(argv)
    if args.run_notebook:
        print(json.dumps(run_notebook_here(args.run_notebook)))
        return 0

    start = time.perf_counter()
    quick = args.quick
    report = Report()
    busy = f"{load_line()}; {cpu_busy_fraction():.0%} of all cores busy with other work over 2 s before the start"
    report.add("Machine", table(("", ""), [*machine().items(), ("load before", busy)]))
    sections: dict[str, Callable[[], None]] = {
        "ceilings": lambda: ceilings(report, rounds=5 if quick else 15),
        "inference": lambda: inference(report, quick, args.no_compile),
        "training": lambda: training(report, rounds=2 if quick else 4),
        "receptive-field": lambda: receptive_field(report, rounds=3),
        "explorers": lambda: explorers(report, per_control=4 if quick else 8),
        "paint": lambda: painted(report),
        "notebooks": lambda: notebooks(report),
    }
    for name, run in sections.items():
        if name not in args.skip:
            run()
    check_targets(report, busy)
    minutes = (time.perf_counter() - start) / 60
    command = " ".join(["python benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)])
    header = (
        "# Benchmark results\n\n"
        f"Written by `{command}` (`make bench` runs it) in {minutes:.1f} min"
        f"{'; --quick: fewer rounds, no torch.compile' if quick else ''}. "
        f"Load before: {busy}; after: {load_line()}. On a busy machine every time is inflated and ratios blur: "
        "re-run when `uptime` shows a load well below the number of cores.\n"
    )
    args.output.write_text(header + "\n" + "\n".join(report.sections))
    print(f"\nwrote {args.output} ({minutes:.1f} min)")
    return 0


SECTIONS = ("ceilings", "inference", "training", "receptive-field", "explorers", "paint", "notebooks")

if __name__ == "__main__":
    raise SystemExit(main())
