"""The tools around training: metrics log, plots, recorded runs, explorers, launch lines, loss demos."""

from __future__ import annotations

import pytest
import torch

from inception_lib import InceptionV2
from inception_lib.draw.training import compare_runs, plot_history, plot_logit_gaps, preset_table
from inception_lib.explorers.training import EXPLORERS
from inception_lib.training.distributed import torchrun_command
from inception_lib.training.losses import aux_gradients, logit_gap_trajectory, optimal_logit_gap
from inception_lib.training.metrics import read_metrics, recorded_run, recorded_runs, write_metrics


def _history(epochs: int = 3) -> list[dict]:
    return [
        {
            "epoch": e,
            "num_classes": 3,
            "train_loss": 1.0 / e,
            "train_acc": 0.3 * e,
            "val_loss": 1.1 / e,
            "val_acc": 0.3 * e,
            "val_loss_ema": 1.0 / e,
            "val_acc_ema": 0.31 * e,
            "confusion": [[e, 0, 0], [0, e, 1], [0, 0, e]],
            "confusion_ema": [[e, 1, 0], [0, e, 0], [0, 0, e]],
        }
        for e in range(1, epochs + 1)
    ]


def test_metrics_log_round_trip(tmp_path):
    history = _history()
    write_metrics(tmp_path / "metrics.jsonl", history)
    assert read_metrics(tmp_path) == read_metrics(tmp_path / "metrics.jsonl") == history
    with pytest.raises(FileNotFoundError, match="no metrics log"):
        read_metrics(tmp_path / "other")


def test_plots_from_a_history():
    history = _history()
    assert len(plot_history(history).axes) == 2
    with pytest.raises(ValueError, match="history is empty"):
        plot_history([])
    assert len(compare_runs({"a": history, "b": history[:2]}).axes[0].lines) == 2


def test_recorded_cpu_run_backs_the_documented_claim():
    assert "cpu" in recorded_runs()
    run = recorded_run("cpu")
    # The log is data shipped with the library: >= 90 % on held-out images within its first 10 minutes.
    within_ten_minutes = [r for r in run if r["val_acc_ema"] >= 0.9 and r["seconds"] < 600]
    assert within_ten_minutes
    with pytest.raises(ValueError, match="unknown recorded run 'gpu'"):
        recorded_run("gpu")


def test_training_explorers_are_registered_and_the_run_explorer_spans_the_recorded_run():
    assert set(EXPLORERS) == {"label_smoothing", "run"}
    assert EXPLORERS["run"]().controls["epoch"].max == recorded_run("cpu")[-1]["epoch"]


def test_preset_table_lists_only_differences():
    table = preset_table("paper", "cpu")
    assert "<code>optimizer</code>" in table and "rmsprop" in table and "adamw" in table
    assert "<code>seed</code>" not in table  # equal in both presets


def test_torchrun_lines():
    assert torchrun_command(["--preset", "cpu"], 2) == (
        "torchrun --standalone --nproc_per_node=2 -m inception_lib train --preset cpu"
    )
    line = torchrun_command([], 4, nnodes=2, node_rank=1, endpoint="h:1")
    for part in ("--nnodes=2", "--node_rank=1", "--rdzv_backend=c10d", "--rdzv_endpoint=h:1"):
        assert part in line
    with pytest.raises(ValueError, match="node_rank"):
        torchrun_command([], 1, nnodes=2, node_rank=2)


def test_logit_gaps_grow_without_smoothing_and_settle_with_it():
    plain, smoothed = logit_gap_trajectory(0.0, steps=200), logit_gap_trajectory(0.1, steps=200)
    assert plain[-1] > plain[100] > smoothed[-1]
    assert float(smoothed[-1]) == pytest.approx(optimal_logit_gap(3, 0.1), abs=1e-3)
    # Two trajectories and one dotted optimum: with ε = 0 the optimal gap is infinite, so none is drawn.
    assert len(plot_logit_gaps([0.0, 0.1]).axes[0].lines) == 3


def test_aux_gradients_measure_both_pushes():
    model = InceptionV2(num_classes=3, seed=0).train()
    images = torch.randn(2, 3, 299, 299, generator=torch.Generator().manual_seed(0))
    share = aux_gradients(model, images, torch.tensor([0, 1]))
    assert share.main_norm > 0 and share.aux_norm > 0 and -1 <= share.cosine <= 1
    assert aux_gradients(model, images, torch.tensor([0, 1]), aux_weight=0.0).aux_norm == 0
    with pytest.raises(ValueError, match="no auxiliary head"):
        aux_gradients(InceptionV2(num_classes=3, aux_logits=False, seed=0), images, torch.tensor([0, 1]))
