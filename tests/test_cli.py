"""`python -m inception_lib summary`, run as a user would."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inception_lib", *args], capture_output=True, text=True, cwd=ROOT / "tests", timeout=300
    )


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


def test_summary_rejects_too_small_input():
    result = _run("summary", "--input-size", "100")
    assert result.returncode == 2
    assert "at least 299" in result.stderr and "--no-aux" in result.stderr


def test_help_documents_every_option():
    result = _run("summary", "--help")
    assert result.returncode == 0
    for option in ("--num-classes", "--input-size", "--depth", "--batch-size", "--no-aux"):
        assert option in result.stdout
