"""Bundled photos: present, small, credited, readable; preprocessing shapes and normalization."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from inception_lib.assets import images

MAX_BYTES = 60_000
MAX_SIDE = 400


def test_bundled_photos_are_few_small_jpegs():
    names = images.list_images()
    assert 3 <= len(names) <= 5
    for name in names:
        path = images.image_dir() / f"{name}.jpg"
        assert path.stat().st_size <= MAX_BYTES, name
        with Image.open(path) as img:
            assert img.format == "JPEG"
            assert max(img.size) <= MAX_SIDE and min(img.size) >= images.IMAGE_SIZE, (name, img.size)


def test_credits_cover_every_photo_with_author_and_licence():
    credits = images.credits()
    assert sorted(credits) == images.list_images()
    for line in credits.values():
        assert "—" in line and ("CC0" in line or "public domain" in line)


def test_load_image_is_rgb():
    img = images.load_image("cat")
    assert img.mode == "RGB"
    assert img.size == (399, 299)


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"unknown image 'dog'.*astronaut, cat, coffee, rocket"):
        images.load_image("dog")


def test_corrupt_and_missing_files_raise_clear_errors(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ValueError, match=r"cannot read .*broken\.jpg as an image"):
        images.read_image(broken)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((images.image_dir() / "cat.jpg").read_bytes()[:2000])
    with pytest.raises(ValueError, match=r"truncated\.jpg"):
        images.read_image(truncated)
    with pytest.raises(FileNotFoundError, match=r"missing\.jpg"):
        images.read_image(tmp_path / "missing.jpg")


def test_preprocess_crops_the_centre_and_normalizes():
    # Left third red, middle third green, right third blue: the square centre crop keeps mostly green.
    pixels = np.zeros((100, 300, 3), dtype=np.uint8)
    pixels[:, :100, 0] = pixels[:, 100:200, 1] = pixels[:, 200:, 2] = 255
    t = images.preprocess(Image.fromarray(pixels), size=50)
    assert t.shape == (3, 50, 50) and t.dtype == torch.float32
    mean, std = torch.tensor(images.IMAGENET_MEAN), torch.tensor(images.IMAGENET_STD)
    centre = t[:, 25, 25]
    assert torch.allclose(centre, (torch.tensor([0.0, 1.0, 0.0]) - mean) / std, atol=1e-5)
    assert np.allclose(images.to_display(t)[25, 25], [0, 1, 0], atol=1e-5)


def test_preprocess_rejects_bad_input():
    with pytest.raises(ValueError, match=r"PIL\.Image\.Image"):
        images.preprocess(np.zeros((3, 3, 3)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive int"):
        images.preprocess(images.load_image("cat"), size=0)


def test_batch_and_display_round_trip():
    batch = images.image_batch(["cat", "rocket"], size=96)
    assert batch.shape == (2, 3, 96, 96)
    shown = images.to_display(batch[:1])
    assert shown.shape == (96, 96, 3) and shown.min() >= 0 and shown.max() <= 1
    # Display of the normalized crop equals the plain resized crop (up to rounding).
    expected = np.asarray(images.load_image("cat").resize((128, 96), Image.BILINEAR).crop((16, 0, 112, 96))) / 255
    assert np.abs(shown - expected).max() < 1e-5
    assert images.image_batch().shape == (len(images.list_images()), 3, 299, 299)
    with pytest.raises(ValueError, match="names is empty"):
        images.image_batch([])
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        images.to_display(batch)
