"""Checkpoints: atomic saves, safe loads with clear errors, and a resume after SIGKILL that ends bit for bit
where an uninterrupted run ends."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from inception_lib.assets import files
from inception_lib.training import checkpoint
from inception_lib.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

from .conftest import ROOT


def test_round_trip_keeps_tensors_and_plain_values(tmp_path):
    state = {"model": {"w": torch.arange(6.0).view(2, 3)}, "epoch": 3, "history": [{"acc": 0.5}], "name": "x"}
    path = save_checkpoint(tmp_path / "sub" / "c.pt", state)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["model"]["w"], state["model"]["w"])
    assert loaded["epoch"] == 3 and loaded["history"] == [{"acc": 0.5}] and loaded["format"] == checkpoint.FORMAT
    assert [p.name for p in path.parent.iterdir()] == ["c.pt"]  # no temporary file left behind


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.pt"):
        load_checkpoint(tmp_path / "nowhere.pt")


def test_truncated_file_is_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.randn(1000)}})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"c\.pt is not a readable checkpoint \(truncated"):
        load_checkpoint(path)


def test_foreign_files_are_clear_errors(tmp_path):
    plain = tmp_path / "state_dict.pt"
    torch.save({"weight": torch.ones(2)}, plain)  # a torch file from some other program
    with pytest.raises(CheckpointError, match="not an inception_lib checkpoint"):
        load_checkpoint(plain)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(text)
    newer = save_checkpoint(tmp_path / "newer.pt", {"version": checkpoint.VERSION + 1})
    with pytest.raises(CheckpointError, match="version"):
        load_checkpoint(newer)


def test_loading_refuses_pickled_code(tmp_path):
    """weights_only=True: a pickled object of an arbitrary class (its code would run on load) is rejected."""
    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.FORMAT, "payload": argparse.Namespace(x=1)}, path)
    with pytest.raises(CheckpointError, match="Unsupported global"):
        load_checkpoint(path)


@pytest.mark.parametrize("fail_in", ["torch.save", "fsync"])
def test_a_failing_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, fail_in):
    path = save_checkpoint(tmp_path / "c.pt", {"epoch": 1, "w": torch.ones(100)})
    before = path.read_bytes()

    def half_written_save(obj, file, *args, **kwargs):
        file.write(b"PK\x03\x04 partial")  # something lands on disk, then the disk is full
        raise OSError(28, "No space left on device")

    def failing_fsync(fd):
        raise OSError(5, "Input/output error")

    if fail_in == "torch.save":
        monkeypatch.setattr(checkpoint.torch, "save", half_written_save)
    else:
        monkeypatch.setattr(files.os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(100)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


# --- resume after a real SIGKILL ---

TINY_RUN = [
    "--preset", "cpu", "--train-size", "24", "--val-size", "6", "--batch-size", "4", "--epochs", "3",
    "--no-progress", "--seed", "5",
]  # fmt: skip


def _train_cli(out_dir, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same thread count in every run: same float sums
    return subprocess.Popen(
        [sys.executable, "-m", "inception_lib", "train", *TINY_RUN, "--out-dir", str(out_dir), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _epoch_on_disk(path) -> int:
    try:
        return int(load_checkpoint(path)["epoch"])
    except (FileNotFoundError, CheckpointError):
        return 0


def _comparable(state: dict) -> dict:
    """Everything in a checkpoint but wall-clock timings and the output folder."""
    state = dict(state)
    state["config"] = {k: v for k, v in state["config"].items() if k != "out_dir"}
    state["history"] = [{k: v for k, v in r.items() if k != "seconds"} for r in state["history"]]
    return state


def _assert_identical(a, b, where="checkpoint"):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.slow
def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path):
    reference = _train_cli(tmp_path / "reference")
    _, err = reference.communicate(timeout=600)
    assert reference.returncode == 0, err

    victim_dir = tmp_path / "killed"
    victim = _train_cli(victim_dir)
    deadline = time.monotonic() + 600
    while _epoch_on_disk(victim_dir / "checkpoint.pt") < 1:  # epoch 1 is safely on disk ...
        assert victim.poll() is None, victim.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # ... and epoch 2 is under way
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    assert victim.returncode == -signal.SIGKILL
    assert _epoch_on_disk(victim_dir / "checkpoint.pt") < 3, "the run finished before it could be killed"

    resumed = _train_cli(victim_dir, "--resume")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    expected = _comparable(load_checkpoint(tmp_path / "reference" / "checkpoint.pt"))
    _assert_identical(_comparable(load_checkpoint(victim_dir / "checkpoint.pt")), expected)
    metrics = (victim_dir / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 3  # the killed epoch is not logged twice


def test_a_written_file_gets_the_usual_permissions(tmp_path):
    """Like a file opened for writing: readable by others as the umask allows, not mkstemp's 0600."""
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    written = files.atomic_write(tmp_path / "atomic.txt", b"x")
    assert written.stat().st_mode == plain.stat().st_mode
