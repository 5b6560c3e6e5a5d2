"""`python -m inception_lib ...`, run as a user would: the commands work, and every user error is
one `error: ...` line with exit status 2, no traceback, and nothing the user made touched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

TINY = ["--preset", "cpu", "--epochs", "1", "--train-size", "8", "--val-size", "3", "--batch-size", "4"]


def _run(*args: str, cwd: Path = ROOT / "tests") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inception_lib", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def _assert_user_error(result: subprocess.CompletedProcess, *phrases: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def test_summary_default_is_the_design_document():
    result = _run("summary")
    assert result.returncode == 0, result.stderr
    assert "Total params: 25,740,438" in result.stdout
    assert "InceptionAux: 2-5" in result.stdout


def test_summary_options():
    result = _run("summary", "--num-classes", "10", "--input-size", "150", "--depth", "1", "--no-aux")
    assert result.returncode == 0, result.stderr
    assert "[1, 3, 150, 150]" in result.stdout and "[1, 10]" in result.stdout
    assert "BasicConv2d" not in result.stdout  # depth 1 hides the stem's rows


def test_help_documents_every_option():
    result = _run("summary", "--help")
    assert result.returncode == 0
    for option in ("--num-classes", "--input-size", "--depth", "--batch-size", "--no-aux"):
        assert option in result.stdout
    train_help = _run("train", "--help").stdout
    assert "--width" in train_help and "presets" in train_help


def test_rf_prints_the_trunk():
    result = _run("rf", "--input-size", "299")
    assert result.returncode == 0, result.stderr
    assert "features.mixed_6.4" in result.stdout and "1135×1135" in result.stdout


@pytest.mark.parametrize(
    "args,phrases",
    [
        (["summary", "--input-size", "100"], ["at least 299", "--no-aux"]),
        (["summary", "--no-aux", "--input-size", "74"], ["at least 75"]),
        (["summary", "--num-classes", "0"], ["--num-classes", "positive"]),
        (["summary", "--depth", "two"], ["--depth"]),
        (["rf", "--input-size", "10"], ["at least 75"]),
        (["summary", "--no-such-option"], ["unrecognized arguments: --no-such-option"]),
        (["train", *TINY, "--lr", "nan"], ["lr must be a finite number"]),
        (["train", *TINY, "--lr", "fast"], ["--lr", "invalid float value"]),
        (["train", *TINY, "--epochs", "0"], ["epochs must be positive"]),
        (["train", *TINY, "--dropout", "1.5"], ["dropout must be in [0, 1]"]),
        (["train", *TINY, "--image-size", "60"], ["image_size 60 is too small", "at least 75"]),
        (["train", "--preset", "paper", "--image-size", "200"], ["at least 299", "down to 75"]),
        (["train", *TINY, "--optimizer", "adam"], ["--optimizer", "invalid choice"]),
        (["train", *TINY, "--width", "-1"], ["width must be positive"]),
    ],
    ids=lambda value: (
        "-".join(value) if isinstance(value, list) and value and value[0] in ("summary", "rf", "train") else ""
    ),
)
def test_bad_numbers_and_options(args, phrases, tmp_path):
    _assert_user_error(_run(*args, "--out-dir", str(tmp_path)) if args[0] == "train" else _run(*args), *phrases)
    assert list(tmp_path.iterdir()) == []  # nothing was written


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A one-epoch run of the cpu preset, as a user would have it on disk."""
    out = tmp_path_factory.mktemp("run")
    result = _run("train", *TINY, "--no-progress", "--out-dir", str(out))
    assert result.returncode == 0, result.stderr
    return out


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_run_writes_checkpoint_metrics_and_weights(finished_run):
    assert sorted(_snapshot(finished_run)) == ["checkpoint.pt", "metrics.jsonl", "weights.pt"]


def test_resume_errors_leave_the_run_untouched(finished_run, tmp_path):
    before = _snapshot(finished_run)
    _assert_user_error(_run("train", *TINY, "--out-dir", str(finished_run)), "already holds a run", "--resume")
    _assert_user_error(
        _run("train", *TINY, "--lr", "1e-3", "--resume", "--out-dir", str(finished_run)),
        "different settings",
        "lr: 0.0003 -> 0.001",
    )
    _assert_user_error(
        _run("train", *TINY, "--resume", str(tmp_path / "missing.pt"), "--out-dir", str(finished_run)),
        "no checkpoint file",
    )
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((finished_run / "checkpoint.pt").read_bytes()[:5000])
    _assert_user_error(
        _run("train", *TINY, "--resume", str(truncated), "--out-dir", str(finished_run)), "not a readable checkpoint"
    )
    assert _snapshot(finished_run) == before


def test_data_and_output_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _assert_user_error(_run("train", *TINY, "--data", str(empty), "--out-dir", str(tmp_path / "a")), "class folder")
    unreadable = tmp_path / "unreadable"
    for name in ("cats", "dogs"):
        (unreadable / name).mkdir(parents=True)
        (unreadable / name / "photo.jpg").write_bytes(b"not an image")
    _assert_user_error(
        _run("train", *TINY, "--data", str(unreadable), "--out-dir", str(tmp_path / "b")), "no readable image"
    )
    _assert_user_error(
        _run("train", *TINY, "--data", str(tmp_path / "nowhere"), "--out-dir", str(tmp_path / "c")), "does not exist"
    )
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    _assert_user_error(_run("train", *TINY, "--out-dir", str(a_file)), "is a file")
    assert a_file.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "notes.txt", "unreadable"]
