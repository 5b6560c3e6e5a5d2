"""The training loop through its API and its command line, on tiny configurations."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields

import pytest
import torch
from matplotlib.figure import Figure

from inception_lib.draw.training import plot_confusion, plot_history
from inception_lib.model.runtime import torch_threads
from inception_lib.training import loop as train_module
from inception_lib.training.checkpoint import load_checkpoint
from inception_lib.training.config import TrainConfig
from inception_lib.training.data import CLASSES, ShapesDataset
from inception_lib.training.evaluation import evaluate
from inception_lib.training.loop import build_model, check_bf16, train
from inception_lib.training.metrics import read_metrics

from .conftest import ROOT


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny batches gain nothing from a second thread, and a busy machine makes OpenMP threads wait."""
    with torch_threads(1):
        yield


def tiny(tmp_path, **overrides) -> TrainConfig:
    values = {"train_size": 12, "val_size": 6, "batch_size": 4, "epochs": 1, "progress": False}
    return TrainConfig.preset("cpu", out_dir=str(tmp_path), **{**values, **overrides})


def test_train_logs_checkpoints_and_plots(tmp_path):
    result = train(tiny(tmp_path, epochs=2))
    assert [r["epoch"] for r in result.history] == [1, 2]
    record = result.history[-1]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "val_acc_ema", "lr", "seconds"):
        assert key in record
    assert sum(map(sum, record["confusion"])) == 6 and result.classes == CLASSES
    assert read_metrics(tmp_path) == result.history  # the JSONL log holds exactly the history
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["epoch"] == 2 and state["config"]["train_size"] == 12
    assert torch.equal(state["model"]["fc.weight"], result.model.fc.weight)
    fig = plot_history(result.history)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    # the returned weight average reproduces the logged validation accuracy
    again = evaluate(result.ema_model, result.val_set, num_classes=3)
    assert again.accuracy == pytest.approx(record["val_acc_ema"])
    assert isinstance(plot_confusion(again.confusion, CLASSES), Figure)


def test_gradient_clipping_follows_the_config(tmp_path, monkeypatch):
    calls = []
    clip = torch.nn.utils.clip_grad_norm_

    def spy(parameters, max_norm, *args, **kwargs):
        calls.append(max_norm)
        return clip(parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(train_module.nn.utils, "clip_grad_norm_", spy)
    train(tiny(tmp_path / "a", grad_clip=2.0))
    assert calls == [2.0, 2.0, 2.0]  # 12 images, batches of 4
    train(tiny(tmp_path / "b", grad_clip=0.0))
    assert len(calls) == 3


def test_step_callback_sees_every_step(tmp_path):
    seen = []
    train(tiny(tmp_path, epochs=2), on_step=seen.append)
    assert [(s.epoch, s.step, s.global_step) for s in seen] == [(e, i, 3 * e + i) for e in range(2) for i in range(3)]
    assert all(s.rank == 0 and s.loss > 0 for s in seen)


def test_aux_head_is_trained_at_full_size(tmp_path):
    """At 299 x 299 the training loss includes the auxiliary classifier, so its weights move."""
    config = tiny(tmp_path, image_size=299, aux_logits=True, train_size=4, val_size=2, batch_size=2)
    before = build_model(config, 3).features.aux.fc.weight.detach().clone()
    result = train(config)
    assert not torch.equal(result.model.features.aux.fc.weight, before)
    assert result.model(torch.zeros(1, 3, 299, 299)).shape == (1, 3)  # eval: logits only


def test_speed_flags(tmp_path):
    try:
        check_bf16(torch.device("cpu"))
    except ValueError:
        pytest.skip("this CPU has no native bfloat16")
    result = train(tiny(tmp_path, bf16=True, channels_last=True))
    assert result.model.fc.weight.dtype == torch.float32  # autocast keeps fp32 master weights
    assert result.model.features.stem[0].conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.isfinite(torch.tensor(result.history[0]["train_loss"]))


def test_resume_errors(tmp_path):
    config = tiny(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"checkpoint\.pt"):
        train(config, resume=True)
    with pytest.raises(FileNotFoundError, match=r"elsewhere\.pt"):
        train(config, resume=tmp_path / "elsewhere.pt")
    train(config)
    with pytest.raises(ValueError, match=r"different settings \(lr: 0.0003 -> 0.5\)"):
        train(TrainConfig(**{**config.to_dict(), "lr": 0.5}), resume=True)


def test_training_on_an_image_folder(tmp_path):
    shapes = ShapesDataset(15, 75, seed=4)
    for i in range(len(shapes)):
        folder = tmp_path / "images" / CLASSES[shapes.label(i)]
        folder.mkdir(parents=True, exist_ok=True)
        shapes.image(i).save(folder / f"{i}.png")
    result = train(tiny(tmp_path / "run", data=str(tmp_path / "images"), val_fraction=0.2))
    assert result.classes == CLASSES
    assert len(result.val_set) == 3  # one of each class's five images held out
    assert sum(map(sum, result.history[0]["confusion"])) == 3


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inception_lib", "train", *args],
        capture_output=True,
        text=True,
        cwd=ROOT / "tests",
        timeout=timeout,
        env={"OMP_NUM_THREADS": "1", "PATH": ""},
    )


def test_cli_help_documents_every_option():
    result = _cli("--help")
    assert result.returncode == 0
    for f in fields(TrainConfig):
        assert "--" + f.name.replace("_", "-") in result.stdout
    for word in ("--preset", "--resume", "small-data", "torchrun"):
        assert word in result.stdout


def test_cli_trains_with_progress_bars_and_rejects_bad_options(tmp_path):
    result = _cli("--preset", "cpu", "--train-size", "8", "--val-size", "3", "--batch-size", "4", "--epochs", "1",
                  "--out-dir", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "epoch 1/1" in result.stderr and "it/s" in result.stderr  # the tqdm bar
    assert "epoch 1: train loss" in result.stderr and f"checkpoint: {tmp_path}" in result.stdout
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["epoch"] == 1
    bad = _cli("--preset", "paper", "--image-size", "100")
    assert bad.returncode == 2 and "at least 299" in bad.stderr
