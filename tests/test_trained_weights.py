"""The shipped trained network: the design document's topology at half width, trained by the project's
own `train` command (docs/training.md), loads safely and classifies freshly generated shapes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from inception_lib import InceptionV2
from inception_lib.assets import asset_path
from inception_lib.assets.weights import SHIPPED, load_weights, read_weights, save_weights, trained_model
from inception_lib.model.geometry import output_length
from inception_lib.training.data import CLASSES, ShapesDataset
from inception_lib.training.evaluation import evaluate
from inception_lib.training.metrics import recorded_run

MAX_BYTES = 30 * 2**20


@pytest.fixture(scope="module")
def trained() -> InceptionV2:
    return trained_model()


def test_the_file_is_small_and_holds_only_tensors_and_plain_data():
    path = asset_path("checkpoints", f"{SHIPPED}.pt")
    assert path.stat().st_size <= MAX_BYTES
    payload = read_weights(path)  # torch.load(weights_only=True): no code runs
    assert payload["classes"] == list(CLASSES)
    assert all(t.dtype == torch.float16 for t in payload["state_dict"].values() if t.is_floating_point())


def test_it_is_the_design_documents_topology_at_reduced_width(trained):
    full = InceptionV2(num_classes=3, aux_logits=False, device="meta")
    layers = [(name, type(m)) for name, m in trained.named_modules()]
    assert layers == [(name, type(m)) for name, m in full.named_modules()]
    same_plan = dataclasses.replace(full.config, width=trained.config.width, dropout=trained.config.dropout)
    assert trained.config.width < 1 and trained.config == same_plan
    # Same grids at every stage, fewer channels.
    size = trained.metadata["image_size"]
    for name in trained.features.stages:
        assert output_length(getattr(trained.features, name), size) == output_length(getattr(full.features, name), size)


def test_it_reaches_95_percent_on_freshly_generated_held_out_shapes(trained):
    """Images from the "test" split and another seed: drawn from a stream neither training nor its
    validation ever used."""
    held_out = ShapesDataset(300, image_size=trained.metadata["image_size"], seed=12345, split="test")
    result = evaluate(trained, held_out, num_classes=3, batch_size=50)
    assert result.count == 300
    assert result.accuracy >= 0.95, result.confusion
    assert trained.metadata["val_acc"] >= 0.95  # what the run itself measured on its 600 held-out images


def test_weights_round_trip_and_bad_files(tmp_path):
    model = InceptionV2(num_classes=3, aux_logits=False, width=0.25, seed=1).eval()
    path = save_weights(tmp_path / "w.pt", model, CLASSES, {"note": "test"})
    loaded = load_weights(path)
    assert loaded.config == model.config and loaded.classes == CLASSES and loaded.metadata == {"note": "test"}
    x = torch.randn(2, 3, 75, 75)
    assert torch.allclose(loaded(x), model(x), atol=0.05)  # float16 storage
    with pytest.raises(FileNotFoundError, match="no weights file"):
        load_weights(tmp_path / "missing.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="not a readable weights file"):
        load_weights(broken)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ValueError, match="not an inception_lib weights file"):
        load_weights(other)
    with pytest.raises(ValueError, match="no shipped weights named 'imagenet'"):
        trained_model("imagenet")


def test_the_shipped_log_is_the_run_that_made_the_weights(trained):
    """docs/training.md quotes this log: 8 epochs, >= 90 % from epoch 6, the last epoch's weight average shipped."""
    log = recorded_run(SHIPPED)
    assert [r["epoch"] for r in log] == list(range(1, 9))
    assert log[-1]["val_acc_ema"] == trained.metadata["val_acc"] and trained.metadata["epoch"] == 8
    assert min(r["epoch"] for r in log if r["val_acc_ema"] >= 0.9) == 6
    assert trained.metadata["train_config"]["width"] == trained.config.width == 0.5
