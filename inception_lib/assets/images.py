"""Real photographs shipped with the library, and the standard preprocessing to feed them in.

The photos live in ``inception_lib/assets/photos`` (credits and licences in ``CREDITS.md`` there) so
that every notebook runs offline. Preprocessing follows the usual ImageNet recipe: resize the
shorter side to ``size``, centre-crop ``size x size``, scale to [0, 1], normalize with the ImageNet
mean and standard deviation. ``to_display`` undoes the normalization for plotting.

>>> batch = image_batch()            # every photo, (N, 3, 299, 299), normalized
>>> to_display(batch[0]).shape       # (299, 299, 3), values in [0, 1]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from . import asset_path

# Per-channel RGB statistics of ImageNet, the convention every pretrained torchvision/timm
# Inception expects; using them keeps inputs roughly zero-mean, unit-variance.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SIZE = 299  # the paper's input resolution (Table 1)
IMAGE_SUFFIX = ".jpg"
CREDITS_FILE = "CREDITS.md"


def image_dir() -> Path:
    """Folder of the bundled photos (inside the installed package)."""
    return asset_path("photos")


def list_images() -> list[str]:
    """Names of the bundled photos, sorted (e.g. ``['astronaut', 'cat', 'coffee', 'rocket']``)."""
    return sorted(p.stem for p in image_dir().glob(f"*{IMAGE_SUFFIX}"))


def read_image(path: str | Path) -> Image.Image:
    """Open an image file as RGB; ``ValueError`` if it is not a readable image."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    try:
        with Image.open(path) as img:
            return img.convert("RGB")  # convert() loads the pixels, so a truncated file fails here
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read {path} as an image ({err}); is the file corrupt or not an image?") from err


def load_image(name: str) -> Image.Image:
    """One bundled photo by name (see ``list_images()``), as an RGB PIL image."""
    names = list_images()
    if name not in names:
        raise ValueError(f"unknown image {name!r}; available: {', '.join(names)}")
    return read_image(image_dir() / f"{name}{IMAGE_SUFFIX}")


def preprocess(img: Image.Image, size: int = IMAGE_SIZE) -> Tensor:
    """Resize the shorter side to ``size``, centre-crop ``size x size``, normalize: a (3, size, size) tensor."""
    if not isinstance(img, Image.Image):
        raise ValueError(f"expected a PIL.Image.Image (e.g. from load_image), got {type(img).__name__}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    img = img.convert("RGB")
    width, height = img.size
    scale = size / min(width, height)
    resized = img.resize((max(size, round(width * scale)), max(size, round(height * scale))), Image.BILINEAR)
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    cropped = resized.crop((left, top, left + size, top + size))
    pixels = torch.from_numpy(np.asarray(cropped, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (pixels - _stat(IMAGENET_MEAN)) / _stat(IMAGENET_STD)


def image_batch(names: Sequence[str] | None = None, size: int = IMAGE_SIZE) -> Tensor:
    """Preprocessed photos stacked into a (N, 3, size, size) batch; all bundled photos by default."""
    names = list_images() if names is None else list(names)
    if not names:
        raise ValueError(f"names is empty; choose from: {', '.join(list_images())}")
    return torch.stack([preprocess(load_image(name), size) for name in names])


def to_display(t: Tensor) -> np.ndarray:
    """Undo ``preprocess``'s normalization: a (3, H, W) or (1, 3, H, W) tensor -> H x W x 3 array in [0, 1]."""
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) or (1, 3, H, W) image tensor, got shape {tuple(t.shape)}")
    pixels = t.detach().float().cpu() * _stat(IMAGENET_STD) + _stat(IMAGENET_MEAN)
    return pixels.clamp(0, 1).permute(1, 2, 0).numpy()


def credits() -> dict[str, str]:
    """Per photo name, a one-line credit ("subject — author, licence") read from ``CREDITS.md``."""
    found = {}
    for line in (image_dir() / CREDITS_FILE).read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(rf"(\w+){re.escape(IMAGE_SUFFIX)}", cells[0])
        if match and len(cells) == 5:
            _, subject, author, _, licence = cells
            found[match.group(1)] = f"{subject} — {author}, {licence}"
    return found


def _stat(values: tuple[float, float, float]) -> Tensor:
    return torch.tensor(values).view(3, 1, 1)
