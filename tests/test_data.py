"""The offline datasets: generated shapes (deterministic, shape-only cues) and image folders."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from inception_lib.draw.training import plot_examples
from inception_lib.training.data import (
    CLASSES,
    ImageFolderDataset,
    ShapesDataset,
    colour_baseline_accuracy,
    labels_of,
    render_shape,
)


def test_shapes_are_deterministic_and_splits_differ():
    a, b = ShapesDataset(6, 75, seed=3), ShapesDataset(6, 75, seed=3)
    for i in range(6):
        assert torch.equal(a[i][0], b[i][0])
    val = ShapesDataset(6, 75, seed=3, split="val")
    assert not torch.equal(a[0][0], val[0][0])
    assert not torch.equal(a[0][0], ShapesDataset(6, 75, seed=4)[0][0])
    assert a[0][0].shape == (3, 75, 75) and a[0][0].dtype == torch.float32


def test_labels_are_balanced_and_named():
    data = ShapesDataset(30, 75)
    assert data.classes == CLASSES == ("circle", "square", "triangle")
    assert torch.bincount(labels_of(data)).tolist() == [10, 10, 10]
    assert [data[i][1] for i in range(3)] == [0, 1, 2]


def test_fresh_each_epoch_draws_new_images_reproducibly():
    fresh, fixed = ShapesDataset(3, 75, fresh_each_epoch=True), ShapesDataset(3, 75)
    first, first_fixed = fresh[1][0], fixed[1][0]
    fresh.set_epoch(1)
    fixed.set_epoch(1)
    assert not torch.equal(first, fresh[1][0])
    assert torch.equal(first_fixed, fixed[1][0])
    fresh.set_epoch(0)
    assert torch.equal(first, fresh[1][0])


def test_colour_and_brightness_do_not_reveal_the_class():
    """A nearest-centroid classifier on each image's mean colour and contrast stays near chance."""
    accuracy = colour_baseline_accuracy(ShapesDataset(600, 48))
    assert 0.25 < accuracy < 0.42, f"mean colour predicts the class with accuracy {accuracy:.2f}"


def test_render_rejects_unknown_label_and_dataset_bad_arguments():
    with pytest.raises(ValueError, match=r"label must be one of 0\.\.2"):
        render_shape(np.random.default_rng(0), 3, 32)
    with pytest.raises(ValueError, match="split must be one of"):
        ShapesDataset(3, split="dev")
    with pytest.raises(ValueError, match="length must be a positive"):
        ShapesDataset(0)
    with pytest.raises(IndexError):
        ShapesDataset(3).image(3)


def _save_shapes(root, per_class: int = 2, size: int = 40):
    data = ShapesDataset(3 * per_class, size, seed=9)
    for i in range(len(data)):
        folder = root / CLASSES[data.label(i)]
        folder.mkdir(parents=True, exist_ok=True)
        data.image(i).save(folder / f"{i:03d}.png")
    return data


def test_image_folder_uses_the_same_preprocessing(tmp_path):
    generated = _save_shapes(tmp_path)
    folder = ImageFolderDataset(tmp_path, image_size=40)
    assert folder.classes == CLASSES and len(folder) == 6 and folder.skipped == 0
    # PNG is lossless: the folder copy of generated image 0 must give the identical tensor.
    image, label = folder[0]
    assert label == 0 and torch.equal(image, generated[0][0])


def test_unreadable_images_are_skipped_with_a_warning(tmp_path):
    _save_shapes(tmp_path)
    (tmp_path / "square" / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "circle" / "notes.txt").write_text("hello")
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable file\(s\)"):
        folder = ImageFolderDataset(tmp_path, image_size=40)
    assert folder.skipped == 2 and len(folder) == 6


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderDataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="0 class folder"):
        ImageFolderDataset(tmp_path)
    (tmp_path / "cat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "cat" / "a.png")
    with pytest.raises(ValueError, match=r"1 class folder.*at least 2"):
        ImageFolderDataset(tmp_path)
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "bad.png").write_bytes(b"\x89PNG broken")
    with warnings.catch_warnings(), pytest.raises(ValueError, match=r"\['dog'\].*no readable image"):
        warnings.simplefilter("ignore")
        ImageFolderDataset(tmp_path)


def test_flips_depend_only_on_seed_epoch_and_index(tmp_path):
    _save_shapes(tmp_path, per_class=4)
    a = ImageFolderDataset(tmp_path, image_size=40, flip=True, seed=1)
    b = ImageFolderDataset(tmp_path, image_size=40, flip=True, seed=1)
    plain = ImageFolderDataset(tmp_path, image_size=40)
    flipped = []
    for epoch in range(2):
        a.set_epoch(epoch)
        flipped.append([not torch.equal(a[i][0], plain[i][0]) for i in range(len(a))])
    assert any(flipped[0]) and not all(flipped[0])  # some images are mirrored, some not
    assert flipped[0] != flipped[1]  # and a different selection next epoch
    b.set_epoch(1)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(len(a)))


def test_plot_examples_names_each_image():
    fig = plot_examples(ShapesDataset(5, 40), count=5, columns=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["circle", "square", "triangle", "circle", "square"] and len(fig.axes) == 6
