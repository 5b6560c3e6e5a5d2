"""The documented claim: `python -m inception_lib train --preset cpu` reaches >= 90 % held-out accuracy on the
built-in shapes (how long it takes, about 5 minutes on two free cores, is `make bench`'s to measure)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from inception_lib.training.metrics import read_metrics

from .conftest import ROOT


@pytest.mark.slow
def test_cpu_preset_reaches_90_percent_in_minutes(tmp_path):
    command = [sys.executable, "-m", "inception_lib", "train", "--preset", "cpu", "--no-progress"]
    result = subprocess.run(
        [*command, "--out-dir", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=1200
    )
    assert result.returncode == 0, result.stderr[-3000:]
    history = read_metrics(tmp_path)
    final = history[-1]
    assert final["val_acc_ema"] >= 0.9, [round(r["val_acc_ema"], 3) for r in history]
    assert history[0]["val_acc_ema"] < 0.6  # it did learn during the run, not before it
