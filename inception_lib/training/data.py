"""Offline training data: a generated three-class shape dataset and a loader for your own images.

``ShapesDataset`` draws circles, squares and triangles (three classes, as the design document's summary
has three outputs) whose colours, brightness, area, rotation, background gradient and noise are all
random and drawn independently of the class, and whose position is random within the margin the
shape's circumradius leaves, so only the *shape* tells the classes apart. Every image is a
pure function of ``(seed, index)`` (and the epoch when ``fresh_each_epoch``): the same on every
machine, in every worker process and after a resume.

``ImageFolderDataset`` reads ``root/<class name>/<image>`` (one folder per class, any format PIL
opens). Both go through ``inception_lib.assets.images.preprocess``, the same resizing and normalization
every other part of the course uses.
"""

from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor
from torch.utils.data import Dataset, Subset

from ..assets.images import preprocess, read_image
from .config import TrainConfig

CLASSES = ("circle", "square", "triangle")
SPLITS = ("train", "val", "test")
# Render at 4x and downsample: anti-aliased edges, so the classes differ in shape, not in jaggies.
SUPERSAMPLE = 4
# Side of the square with the shape's area, as a fraction of the image side. The area is drawn the
# same way for every class, so size says nothing about the class.
AREA_SIDE = (0.3, 0.5)
# Minimum luminance difference between shape and background (0..1): the shape stays visible, yet
# either may be the brighter one.
MIN_CONTRAST = 0.3
NOISE_STD = (0.0, 0.04)


def _luminance(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114]))


def _polygon(label: int, radius: float, angle: float, centre: tuple[float, float]) -> list[tuple[float, float]]:
    """Vertices of a regular square (label 1) or triangle (label 2) with circumradius ``radius``."""
    corners = 4 if label == 1 else 3
    cx, cy = centre
    return [
        (
            cx + radius * math.cos(angle + 2 * math.pi * k / corners),
            cy + radius * math.sin(angle + 2 * math.pi * k / corners),
        )
        for k in range(corners)
    ]


# Circumradius of a unit-area circle, square and triangle: equal areas, different outlines.
_UNIT_AREA_RADIUS = (1 / math.sqrt(math.pi), 1 / math.sqrt(2), math.sqrt(4 / (3 * math.sqrt(3))))


def render_shape(rng: np.random.Generator, label: int, size: int) -> Image.Image:
    """One ``size x size`` RGB image of class ``label`` (index into ``CLASSES``), drawn from ``rng``."""
    if label not in range(len(CLASSES)):
        raise ValueError(f"label must be one of 0..{len(CLASSES) - 1} ({', '.join(CLASSES)}), got {label!r}")
    big = size * SUPERSAMPLE
    background = rng.uniform(0, 1, 3)
    while True:  # rejection sampling keeps colours uniform apart from the contrast constraint
        colour = rng.uniform(0, 1, 3)
        if abs(_luminance(colour) - _luminance(background)) >= MIN_CONTRAST:
            break
    radius = rng.uniform(*AREA_SIDE) * big * _UNIT_AREA_RADIUS[label]
    margin = radius + 1
    centre = (rng.uniform(margin, big - margin), rng.uniform(margin, big - margin))
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    if label == 0:
        draw.ellipse([centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius], fill=255)
    else:
        draw.polygon(_polygon(label, radius, rng.uniform(0, 2 * math.pi), centre), fill=255)
    alpha = np.asarray(mask.resize((size, size), Image.BOX), dtype=np.float32)[..., None] / 255.0
    # A linear gradient across the background in a random direction, so brightness varies within
    # an image as well as between images.
    direction = rng.uniform(0, 2 * math.pi)
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    gradient = math.cos(direction) * ramp[None, :] + math.sin(direction) * ramp[:, None]
    shade = (background[None, None, :] + rng.uniform(0, 0.3) * gradient[..., None]).astype(np.float32)
    pixels = alpha * colour.astype(np.float32) + (1 - alpha) * shade
    pixels += rng.normal(0, rng.uniform(*NOISE_STD), pixels.shape).astype(np.float32)
    return Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8))


class ShapesDataset(Dataset):
    """``length`` generated images, classes balanced (``index % 3``), preprocessed to ``image_size``.

    ``seed`` and ``split`` select the images: each split draws from its own random stream, so a
    ``"val"`` set never repeats a ``"train"`` image. With
    ``fresh_each_epoch`` every epoch draws new images (call ``set_epoch``, as the training loop
    does), an endless supply that makes memorizing impossible.
    """

    classes = CLASSES

    def __init__(
        self, length: int, image_size: int = 75, seed: int = 0, split: str = "train", fresh_each_epoch: bool = False
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if length < 1:
            raise ValueError(f"length must be a positive number of images, got {length}")
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
        self.length, self.image_size, self.seed, self.split = length, image_size, seed, split
        self.fresh_each_epoch = fresh_each_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def label(self, index: int) -> int:
        return index % len(CLASSES)

    def image(self, index: int) -> Image.Image:
        """The raw RGB image at ``index`` (before normalization), e.g. for display."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} images")
        key = [self.seed, SPLITS.index(self.split), index] + ([self.epoch] if self.fresh_each_epoch else [])
        return render_shape(np.random.default_rng(key), self.label(index), self.image_size)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return preprocess(self.image(index), self.image_size), self.label(index)


class ImageFolderDataset(Dataset):
    """Images in ``root/<class>/`` (one sub-folder per class, sorted by name), preprocessed to ``image_size``.

    Every file is decoded once up front: one that PIL cannot read is skipped, counted in
    ``skipped`` and reported in a single warning, so a bad file never stops training mid-epoch.
    With ``flip`` (for training) an image is mirrored left-right in half of the epochs, decided
    by ``(seed, epoch, index)`` so a resumed run sees the same flips.
    """

    def __init__(self, root: str | Path, image_size: int = 75, flip: bool = False, seed: int = 0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder {self.root} does not exist (expected root/<class name>/<images>)")
        self.classes = tuple(sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")))
        if len(self.classes) < 2:
            raise ValueError(
                f"{self.root} holds {len(self.classes)} class folder(s) {list(self.classes)}; a classifier needs "
                "at least 2 (one sub-folder per class, each with its images)"
            )
        self.samples: list[tuple[Path, int]] = []
        bad: list[Path] = []
        for label, name in enumerate(self.classes):
            for path in sorted(p for p in (self.root / name).rglob("*") if p.is_file() and not p.name.startswith(".")):
                try:
                    read_image(path)
                except ValueError:
                    bad.append(path)
                else:
                    self.samples.append((path, label))
        self.skipped = len(bad)
        empty = [name for label, name in enumerate(self.classes) if all(lab != label for _, lab in self.samples)]
        if empty:
            raise ValueError(f"class folder(s) {empty} in {self.root} hold no readable image; every class needs some")
        if bad:
            shown = ", ".join(str(p.relative_to(self.root)) for p in bad[:5]) + (", ..." if len(bad) > 5 else "")
            warnings.warn(f"skipped {len(bad)} unreadable file(s) in {self.root}: {shown}", stacklevel=2)
        self.image_size, self.flip, self.seed, self.epoch = image_size, flip, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def label(self, index: int) -> int:
        return self.samples[index][1]

    def image(self, index: int) -> Image.Image:
        image = read_image(self.samples[index][0])
        if self.flip and np.random.default_rng([self.seed, self.epoch, index]).random() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        return image

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return preprocess(self.image(index), self.image_size), self.label(index)


def colour_baseline_accuracy(dataset: ShapesDataset, train_share: float = 0.5) -> float:
    """Accuracy of a nearest-centroid classifier on each image's mean colour and contrast (per-channel
    mean and standard deviation), fitted on the first ``train_share`` of the images, scored on the rest.

    Near chance (1/3) means colour and brightness do not give the class away.
    """
    stats = []
    for i in range(len(dataset)):
        pixels = np.asarray(dataset.image(i), dtype=np.float32) / 255
        stats.append(np.concatenate([pixels.mean(axis=(0, 1)), pixels.std(axis=(0, 1))]))
    features, labels = torch.tensor(np.array(stats)), labels_of(dataset)
    cut = int(train_share * len(dataset))
    centroids = torch.stack([features[:cut][labels[:cut] == k].mean(0) for k in range(len(CLASSES))])
    predicted = torch.cdist(features[cut:], centroids).argmin(1)
    return float((predicted == labels[cut:]).float().mean())


def labels_of(dataset: Dataset) -> Tensor:
    """Every label of a dataset from this module, without decoding images."""
    return torch.tensor([dataset.label(i) for i in range(len(dataset))])  # type: ignore[attr-defined]


def build_datasets(config: TrainConfig) -> tuple[Dataset, Dataset, tuple[str, ...]]:
    """Training set (its ``set_epoch`` varies images or flips per epoch), validation set, class names."""
    if config.data == "shapes":
        train_set = ShapesDataset(
            config.train_size, config.image_size, seed=config.seed, split="train", fresh_each_epoch=config.fresh_data
        )
        return (
            train_set,
            ShapesDataset(config.val_size, config.image_size, seed=config.seed, split="val"),
            train_set.classes,
        )
    folder = ImageFolderDataset(config.data, config.image_size, flip=True, seed=config.seed)
    if config.val_data is not None:
        val = ImageFolderDataset(config.val_data, config.image_size)
        if val.classes != folder.classes:
            raise ValueError(f"--val-data classes {val.classes} differ from --data classes {folder.classes}")
        return folder, val, folder.classes
    # A seeded, stratified hold-out: the same images are held out on every process and every resume.
    order = torch.randperm(len(folder), generator=torch.Generator().manual_seed(config.seed)).tolist()
    held: list[int] = []
    for label in range(len(folder.classes)):
        members = [i for i in order if folder.label(i) == label]
        held += members[: max(1, round(config.val_fraction * len(members)))]
    kept = sorted(set(range(len(folder))) - set(held))
    if not kept:
        raise ValueError(f"{config.data} has too few images to hold out {config.val_fraction:.0%} for validation")
    unflipped = copy.copy(folder)
    unflipped.flip = False
    return _EpochSubset(folder, kept), Subset(unflipped, sorted(held)), folder.classes


class _EpochSubset(Subset):
    """A ``Subset`` that forwards ``set_epoch`` to the dataset it views."""

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)  # type: ignore[attr-defined]
