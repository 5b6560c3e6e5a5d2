"""Real ``torchrun`` launches with two CPU processes (gloo): identical ranks, 2 x b equals 1 x 2b, a dying
rank ends the job, and the command line works unchanged under torchrun."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch

from inception_lib.model.runtime import torch_threads
from inception_lib.training.config import TrainConfig
from inception_lib.training.loop import train

from .conftest import ROOT

pytestmark = pytest.mark.slow

# Two CPU processes on two cores: one thread each.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
# A dropout-free, fixed-data run with SyncBatchNorm, so 2 processes x 4 images compute what
# 1 process x 8 images computes, up to the order of floating-point sums. In float64, because in
# float32 this network at initialization amplifies rounding differences (BatchNorm over 4-8 values
# per channel on the 1 x 1 grid of mixed_7 at 75 x 75; gradient norm ~2,000): even the exact same
# mathematics, summed in another order, moves some gradients by tens of percent. Clipped SGD
# keeps the steps small.
TINY = {
    "train_size": 16, "val_size": 4, "batch_size": 4, "epochs": 1, "dropout": 0.0, "fresh_data": False,
    "optimizer": "sgd", "lr": 0.01, "grad_clip": 2.0, "warmup_epochs": 0.0, "progress": False,
    "dist_timeout": 60.0, "float64": True,
}  # fmt: skip
# Largest weight difference allowed between the 2 x 4 and the 1 x 8 run after two SGD steps.
TOLERANCE = 1e-8

SCRIPT = """
import os, sys, torch
from inception_lib.training.config import TrainConfig
from inception_lib.training.loop import train

def crash(info):
    if info.rank == 1 and info.global_step == 0:
        raise RuntimeError("rank 1 fails on purpose")

config = TrainConfig.preset("cpu", out_dir=sys.argv[1], sync_bn=True, **{tiny})
result = train(config, on_step=crash if sys.argv[2] == "crash" else None)
torch.save(result.model.state_dict(), os.path.join(sys.argv[1], f"rank{{os.environ['RANK']}}.pt"))
"""


BATCHNORM_SCRIPT = """
import pathlib, sys, torch, torch.distributed as dist
from inception_lib.training.distributed import CPUSyncBatchNorm
dist.init_process_group("gloo")
rank = dist.get_rank()
g = torch.Generator().manual_seed(0)
x, upstream = torch.randn(8, 5, 3, 3, generator=g) * 3 + 1, torch.randn(8, 5, 3, 3, generator=g)
full, mine = torch.nn.BatchNorm2d(5), CPUSyncBatchNorm(5)
x_full, x_mine = x.clone().requires_grad_(), x[4 * rank : 4 * rank + 4].clone().requires_grad_()
y_full = full(x_full)
(y_full * upstream).sum().backward()
y = mine(x_mine)
(y * upstream[4 * rank : 4 * rank + 4]).sum().backward()
assert torch.allclose(y, y_full[4 * rank : 4 * rank + 4], atol=1e-5), "output"
assert torch.allclose(x_mine.grad, x_full.grad[4 * rank : 4 * rank + 4], atol=1e-5), "input gradient"
for name in ("running_mean", "running_var"):
    assert torch.allclose(getattr(mine, name), getattr(full, name), atol=1e-5), name
pathlib.Path(sys.argv[1], f"rank{rank}.agrees").touch()  # a file each: the ranks' stdout lines can interleave
# Both ranks reach the teardown together: a gloo peer that closes its connections while the other
# still holds them can abort the other process ("terminate called without an active exception").
dist.barrier()
dist.destroy_process_group()
"""


def _torchrun(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=timeout)


def _script(tmp_path) -> str:
    path = tmp_path / "ddp_train.py"
    path.write_text(textwrap.dedent(SCRIPT.format(tiny=TINY)))
    return str(path)


def test_cpu_sync_batchnorm_equals_batchnorm_on_the_whole_batch(tmp_path):
    script = tmp_path / "sync_bn.py"
    script.write_text(textwrap.dedent(BATCHNORM_SCRIPT))
    result = _torchrun(str(script), str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.glob("*.agrees")) == ["rank0.agrees", "rank1.agrees"]


def test_two_processes_match_one_with_the_global_batch(tmp_path):
    out = tmp_path / "ddp"
    result = _torchrun(_script(tmp_path), str(out), "train")
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for name in rank0:  # DDP averages gradients, SyncBatchNorm shares statistics: the ranks agree exactly
        assert torch.equal(rank0[name], rank1[name]), name
    # only rank 0 writes files (besides the per-rank weights this test saves)
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "metrics.jsonl",
        "rank0.pt",
        "rank1.pt",
        "weights.pt",
    ]

    with torch_threads(1):
        single = train(TrainConfig.preset("cpu", out_dir=str(tmp_path / "single"), **{**TINY, "batch_size": 8}))
    reference = single.model.state_dict()
    worst = max(float((rank0[k].double() - reference[k].double()).abs().max()) for k in reference)
    assert worst < TOLERANCE, f"2 x 4 and 1 x 8 differ by up to {worst:.2e}"
    assert any(not torch.equal(rank0[k], reference[k]) for k in reference)  # float sums differ, a little


def test_a_rank_that_dies_ends_the_job(tmp_path):
    out = tmp_path / "crash"
    result = _torchrun(_script(tmp_path), str(out), "crash", timeout=300)  # the timeout only guards a hang
    assert result.returncode != 0
    assert "rank 1 fails on purpose" in result.stderr
    root_cause = result.stderr.split("Root Cause (first observed failure):")[-1]
    assert re.search(r"rank\s*: 1 \(local_rank: 1\)", root_cause), root_cause  # torchrun blames the raising rank
    # The survivor is stopped by its peer's closed connection or torchrun's SIGTERM, not after waiting out
    # the collectives' timeout (TINY's dist_timeout): gloo would then report "Timed out waiting ...".
    assert "timed out" not in result.stderr.lower(), result.stderr[-3000:]
    assert not list(out.glob("rank*.pt"))  # neither rank got to the end of training


def test_the_command_line_runs_under_torchrun(tmp_path):
    out = tmp_path / "cli"
    args = ["--preset", "cpu", "--train-size", "16", "--val-size", "4", "--batch-size", "4", "--epochs", "1"]
    result = _torchrun("-m", "inception_lib", "train", *args, "--sync-bn", "--out-dir", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("checkpoint:") == 1  # rank 0 alone reports
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.jsonl", "weights.pt"]
    assert len(torch.load(out / "checkpoint.pt", weights_only=True)["rng"]) == 2  # both ranks' random states
