"""Feature maps: what the modules of a network compute on real images.

``FeatureCache`` captures the outputs of any named submodules with forward hooks and keeps them,
so a widget that flips between modules, branches and channels runs the network once per image
batch, not once per click. ``channel_grid`` tiles the channels of one activation into a single
image; ``feature_image`` is the explorer view (photo, a page of channels, one channel enlarged);
``FeatureMapView`` holds photos and models (e.g. random and trained) and renders that view, and
``statistics_figure`` / ``weight_change`` summarize how the models differ block by block.

>>> cache = FeatureCache(InceptionV2(num_classes=3, seed=0))
>>> acts = cache.activations(image_batch(), ["features.mixed_7.0"])   # {name: (N, 2048, 8, 8)}
>>> cache.branches(image_batch(), "features.mixed_7.0")              # per-branch outputs, pre-concat
"""

from __future__ import annotations

import difflib
import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor, nn

from .images import IMAGE_SIZE, image_batch, list_images, to_display
from .modules import InceptionBlock

GRID_COLUMNS = 8
PAGE = 16  # channels per page in the explorer view
CMAP = "magma"
# Pixel sizes of the drawn views: small enough that drawing and PNG-encoding one stays quick.
PANEL = 224  # the photo and the enlarged channel
TILE = 56  # a tile of a channel grid is enlarged towards this
TITLE_SPACE = 34  # above the panels, for their titles


def inception_blocks(model: nn.Module) -> list[tuple[str, InceptionBlock]]:
    """Every multi-branch block of ``model`` (F5, grid reductions, F6, F7) with its qualified name, in order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, InceptionBlock)]


def _weights_version(model: nn.Module) -> int:
    """Grows whenever a parameter or buffer changes in place (optimizer steps, BatchNorm statistics,
    ``load_state_dict``), so cached activations of older weights are never served."""
    return sum(t._version for t in (*model.parameters(), *model.buffers()))


def _digest(images: Tensor) -> str:
    data = images.detach().cpu().contiguous()
    return f"{tuple(data.shape)}:{data.dtype}:" + hashlib.blake2b(data.numpy().tobytes(), digest_size=16).hexdigest()


class FeatureCache:
    """Activations of named submodules of ``model`` for image batches, each computed once.

    Keys are the images' content, the module name and the model's weight version: asking again for
    the same images and modules returns the stored tensors without running the model (see
    ``forward_calls``); asking for new modules runs one forward pass that captures all the missing
    ones. The model runs in eval mode without gradients (its mode is restored), through
    ``forward_features`` when it has one, so the classifier head is skipped.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.forward_calls = 0
        self._modules = dict(model.named_modules())
        self._store: dict[tuple[str, int], dict[str, Tensor]] = {}
        self._last_digest: tuple[Tensor, int, str] | None = None

    def _key(self, images: Tensor) -> tuple[str, int]:
        # Hashing a few photos costs tens of milliseconds; a widget passes the same tensor on every
        # click, so remember the digest of the last one while it is unchanged (same object and version).
        last = self._last_digest
        if last is None or last[0] is not images or last[1] != images._version:
            last = self._last_digest = (images, images._version, _digest(images))
        version = _weights_version(self.model)
        if any(v != version for _, v in self._store):  # the weights changed: older activations are dead weight
            self._store = {key: acts for key, acts in self._store.items() if key[1] == version}
        return last[2], version

    def activations(self, images: Tensor, names: Iterable[str]) -> dict[str, Tensor]:
        """``{name: output}`` of each named submodule for ``images`` (N, 3, H, W), in the order asked."""
        names = list(names)
        for name in names:
            self._check_name(name)
        key = self._key(images)  # before touching _store: _key may replace it
        stored = self._store.setdefault(key, {})
        missing = [name for name in names if name not in stored]
        if missing:
            stored.update(self._capture(images, missing))
        return {name: stored[name] for name in names}

    def branches(self, images: Tensor, block: str) -> dict[str, Tensor]:
        """Outputs of each branch of the block named ``block``, before the concatenation, in
        concatenation order. A forked branch (F7) gives its arms already concatenated."""
        module = self._modules.get(block)
        if not isinstance(module, InceptionBlock):
            blocks = ", ".join(name for name, _ in inception_blocks(self.model))
            raise ValueError(f"{block!r} is not an Inception block of this model; blocks: {blocks}")
        names = {f"{block}.{branch}": branch for branch, _ in module.named_branches()}
        return {names[name]: act for name, act in self.activations(images, names).items()}

    def clear(self) -> None:
        """Drop every stored activation, to free memory (a change of weights already drops the old ones)."""
        self._store.clear()

    def _check_name(self, name: str) -> None:
        if name not in self._modules or name == "":
            close = difflib.get_close_matches(name, [n for n in self._modules if n], n=5, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see model.named_modules()"
            raise ValueError(f"no submodule named {name!r} in {type(self.model).__name__}{hint}")

    def _capture(self, images: Tensor, names: list[str]) -> dict[str, Tensor]:
        captured: dict[str, Tensor] = {}

        def keep(name: str):
            # Clone: a later in-place op (BasicConv2d's ReLU acts on its BatchNorm's output) must
            # not alter what was captured.
            return lambda _module, _inputs, output: captured.__setitem__(name, output.detach().clone())

        hooks = [self._modules[name].register_forward_hook(keep(name)) for name in names]
        was_training = self.model.training
        run = getattr(self.model, "forward_features", self.model)
        try:
            with torch.no_grad():
                self.model.eval()
                run(images)
                self.forward_calls += 1
        finally:
            self.model.train(was_training)
            for hook in hooks:
                hook.remove()
        silent = [name for name in names if name not in captured]
        if silent:
            raise ValueError(f"modules {silent} did not run in the forward pass (e.g. the auxiliary head)")
        return captured


ALL_BRANCHES = "all (concat)"


@dataclass(frozen=True)
class BlockStats:
    """Summary of one block's output over a batch of photos."""

    block: str
    mean: float  # mean activation
    zero_fraction: float  # share of outputs the final ReLU set to zero
    dead_channels: float  # share of channels that are zero at every position of every photo


class FeatureMapView:
    """The render function behind the feature-map explorers, with everything it needs cached.

    Holds the photos, one ``FeatureCache`` per model (e.g. ``{"random": m1, "trained": m2}``) and
    renders ``feature_image`` for a photo, a block, one of its branches (or all of them) and a
    channel. ``precompute()`` captures every block and branch in one forward pass per model, after
    which every control change is a cache hit.
    """

    def __init__(
        self,
        models: Mapping[str, nn.Module],
        image_names: Sequence[str] | None = None,
        size: int = IMAGE_SIZE,
        kinds: tuple[type[InceptionBlock], ...] = (InceptionBlock,),
    ) -> None:
        """``kinds`` limits the blocks offered, e.g. ``(InceptionModuleF7,)``."""
        if not models:
            raise ValueError("models is empty; pass e.g. {'random': InceptionV2(num_classes=3, seed=0)}")
        self.image_names = list_images() if image_names is None else list(image_names)
        self.images = image_batch(self.image_names, size)
        # The same centre crop at panel size: the figure shows the photo without resampling it.
        self.photos = [to_display(image_batch([name], PANEL)[0]) for name in self.image_names]
        self.caches = {label: FeatureCache(model) for label, model in models.items()}
        first = next(iter(models.values()))
        self.blocks = {name: block for name, block in inception_blocks(first) if isinstance(block, kinds)}
        if not self.blocks:
            raise ValueError(f"{type(first).__name__} has no blocks of kinds {[k.__name__ for k in kinds]}")

    def block_options(self) -> list[tuple[str, str]]:
        """(label, qualified name) per block, labels without the ``features.`` prefix."""
        return [(name.removeprefix("features."), name) for name in self.blocks]

    def branch_options(self, block: str) -> list[str]:
        """``ALL_BRANCHES`` then the block's branch names, in concatenation order."""
        return [ALL_BRANCHES, *(name for name, _ in self._block(block).named_branches())]

    def layer(self, block: str, branch: str = ALL_BRANCHES) -> str:
        """Qualified module name of a block, or of one of its branches."""
        if branch not in self.branch_options(block):
            raise ValueError(f"{block} has no branch {branch!r}; choose from {self.branch_options(block)}")
        return block if branch == ALL_BRANCHES else f"{block}.{branch}"

    def precompute(self) -> None:
        """Capture every block and every branch for every model: one forward pass per model."""
        layers = [self.layer(block, branch) for block in self.blocks for branch in self.branch_options(block)]
        for cache in self.caches.values():
            cache.activations(self.images, layers)

    def activation(self, image: str, block: str, branch: str = ALL_BRANCHES, weights: str | None = None) -> Tensor:
        """One photo's (C, H, W) output of a block or branch, from the cache of model ``weights``."""
        cache = self._cache(weights)
        if image not in self.image_names:
            raise ValueError(f"unknown image {image!r}; this view holds {', '.join(self.image_names)}")
        layer = self.layer(block, branch)
        return cache.activations(self.images, [layer])[layer][self.image_names.index(image)]

    def render(
        self, image: str, block: str, branch: str = ALL_BRANCHES, channel: int = 0, weights: str | None = None
    ) -> Image.Image:
        """``feature_image`` for the chosen photo, block, branch, channel and model."""
        act = self.activation(image, block, branch, weights)
        label = block.removeprefix("features.") + ("" if branch == ALL_BRANCHES else f" / {branch}")
        if len(self.caches) > 1:
            label += f" ({weights or next(iter(self.caches))} weights)"
        return feature_image(self.photos[self.image_names.index(image)], act, channel, label)

    def statistics(self, weights: str | None = None) -> list[BlockStats]:
        """Per block, in network order: how large and how sparse its output is on the photos."""
        cache = self._cache(weights)
        stats = []
        for block in self.blocks:
            act = cache.activations(self.images, [block])[block]
            silent = (act == 0).all(dim=3).all(dim=2).all(dim=0)  # channel zero on every photo and position
            stats.append(
                BlockStats(
                    block.removeprefix("features."),
                    act.mean().item(),
                    (act == 0).float().mean().item(),
                    silent.float().mean().item(),
                )
            )
        return stats

    def _block(self, block: str) -> InceptionBlock:
        if block not in self.blocks:
            raise ValueError(f"unknown block {block!r}; choose from {', '.join(self.blocks)}")
        return self.blocks[block]

    def _cache(self, weights: str | None) -> FeatureCache:
        if weights is None:
            return next(iter(self.caches.values()))
        if weights not in self.caches:
            raise ValueError(f"unknown weights {weights!r}; choose from {', '.join(self.caches)}")
        return self.caches[weights]


def weight_change(before: nn.Module, after: nn.Module, names: Iterable[str]) -> dict[str, float]:
    """Per named submodule, ``‖after − before‖ / ‖before‖`` over its parameters (same architecture)."""
    changes = {}
    for name in names:
        old = nn.utils.parameters_to_vector(before.get_submodule(name).parameters())
        new = nn.utils.parameters_to_vector(after.get_submodule(name).parameters())
        if old.shape != new.shape:
            raise ValueError(f"{name} differs in shape between the two models: {old.numel()} vs {new.numel()} values")
        changes[name] = ((new - old).norm() / old.norm()).item()
    return changes


def statistics_figure(view: FeatureMapView) -> Figure:
    """Mean activation (log scale) and share of zeros per block, one line per model of ``view``."""
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    mean_ax, zero_ax = fig.subplots(1, 2)
    for i, label in enumerate(view.caches):
        stats = view.statistics(label)
        x, color = range(len(stats)), f"C{i}"
        mean_ax.plot(x, [s.mean for s in stats], marker="o", color=color, label=label)
        zero_ax.plot(x, [s.zero_fraction for s in stats], marker="o", color=color, label=f"{label}: outputs")
        zero_ax.plot(
            x, [s.dead_channels for s in stats], marker="x", ls=":", color=color, label=f"{label}: dead channels"
        )
    names = [s.block for s in view.statistics()]
    for ax, title in ((mean_ax, "mean activation"), (zero_ax, "share of zeros")):
        ax.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    mean_ax.set_yscale("log")
    zero_ax.set_ylim(0, 1)
    return fig


def channel_mosaic(
    activation: Tensor, channels: Sequence[int], columns: int = GRID_COLUMNS
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Tile the given channels of a (C, H, W) activation into one 2-D array, each tile scaled to
    [0, 1] on its own (a constant channel is 0) and separated by NaN gaps; also each tile's
    (top, left) corner."""
    if activation.dim() != 3:
        raise ValueError(f"expected one image's activation (C, H, W), got shape {tuple(activation.shape)}")
    count = activation.shape[0]
    bad = [c for c in channels if not 0 <= c < count]
    if bad or not channels:
        raise ValueError(f"channels must be a non-empty list within 0..{count - 1}, got {list(channels)}")
    maps = activation[list(channels)].float()
    low = maps.amin(dim=(1, 2), keepdim=True)
    span = maps.amax(dim=(1, 2), keepdim=True) - low
    maps = ((maps - low) / span.clamp_min(1e-12)).numpy()
    rows = -(-len(channels) // columns)
    height, width = maps.shape[1:]
    gap = max(1, height // 16)
    mosaic = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), np.nan, dtype=np.float32)
    corners = [((i // columns) * (height + gap), (i % columns) * (width + gap)) for i in range(len(maps))]
    for (top, left), tile in zip(corners, maps, strict=True):
        mosaic[top : top + height, left : left + width] = tile
    return mosaic, corners


def channel_grid(
    activation: Tensor,
    channels: Sequence[int] | None = None,
    columns: int = GRID_COLUMNS,
    title: str = "",
) -> Figure:
    """A grid of feature maps of one image's (C, H, W) activation; the first 32 channels by default."""
    channels = list(range(min(activation.shape[0], 32)) if channels is None else channels)
    panel, labels, _ = _mosaic_panel(activation, channels, min(columns, len(channels)))
    fig, ax, _ = _canvas_figure([(panel, "")], title)
    _label_tiles(ax, labels, left=0)
    return fig


def feature_image(photo: np.ndarray, activation: Tensor, channel: int, title: str, per_page: int = PAGE) -> Image.Image:
    """The explorer view: the photo, the page of ``per_page`` channels holding ``channel`` (outlined),
    and ``channel`` enlarged with its range. ``activation`` is one image's (C, H, W) output."""
    count = activation.shape[0]
    if not 0 <= channel < count:
        raise ValueError(f"channel {channel} is out of range: this output has channels 0..{count - 1}")
    first = channel - channel % per_page
    page = list(range(first, min(first + per_page, count)))
    grid, labels, tile = _mosaic_panel(activation, page, columns=4)
    values = activation[channel].float()
    one, _ = channel_mosaic(activation, [channel], columns=1)
    image, lefts, top = _canvas_image(
        [
            (photo, "input"),
            (grid, f"channels {page[0]}–{page[-1]} of {count}"),
            (
                _colorize(_enlarge(one, PANEL // one.shape[0])),
                f"channel {channel}: {values.min():.2f} … {values.max():.2f}",
            ),
        ],
        f"{title} — {tuple(activation.shape)} per image",
    )
    draw = ImageDraw.Draw(image)
    for c, y, x in labels:
        draw.text((lefts[1] + x + 2, top + y + 1), str(c), fill="white", font=_font(9))
    y, x = next((y, x) for c, y, x in labels if c == channel)
    box = (lefts[1] + x - 2, top + y - 2, lefts[1] + x + tile + 1, top + y + tile + 1)
    draw.rectangle(box, outline="#00d0ff", width=2)
    return image


# --- drawing: every view is one RGB canvas. Notebooks show it in a single matplotlib Axes (several
# times faster than a grid of Axes); the explorer view is drawn with PIL alone, because matplotlib's
# text layout alone takes longer than the 100 ms a click may take.


def _colorize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] to RGB through the colormap; NaN (the gaps between tiles) to white."""
    cmap = colormaps[CMAP].with_extremes(bad="white")
    return cmap(np.ma.masked_invalid(values))[..., :3]


def _enlarge(values: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upsampling by an integer factor: each activation stays a crisp square."""
    factor = max(1, factor)
    return values.repeat(factor, axis=0).repeat(factor, axis=1)


def _mosaic_panel(
    activation: Tensor, channels: list[int], columns: int
) -> tuple[np.ndarray, list[tuple[int, int, int]], int]:
    """RGB mosaic of ``channels``, each tile's ``(channel, top, left)`` in pixels, and the tile size."""
    mosaic, corners = channel_mosaic(activation, channels, columns)
    factor = max(1, round(TILE / activation.shape[1]))
    labels = [(c, top * factor, left * factor) for c, (top, left) in zip(channels, corners, strict=True)]
    return _colorize(_enlarge(mosaic, factor)), labels, activation.shape[1] * factor


def _lay_out(panels: list[tuple[np.ndarray, str]], gap: int = 12) -> tuple[np.ndarray, list[int]]:
    """RGB panels side by side on one white canvas, aligned at the top; also each panel's left edge."""
    height = max(panel.shape[0] for panel, _ in panels)
    lefts = [int(x) for x in np.cumsum([0] + [panel.shape[1] + gap for panel, _ in panels[:-1]])]
    canvas = np.ones((height, lefts[-1] + panels[-1][0].shape[1], 3), dtype=np.float32)
    for (panel, _), left in zip(panels, lefts, strict=True):
        canvas[: panel.shape[0], left : left + panel.shape[1]] = panel[..., :3]
    return canvas, lefts


def _canvas_figure(panels: list[tuple[np.ndarray, str]], title: str, dpi: int = 80):
    """The panels as a matplotlib figure, each titled; returns (figure, axes, lefts)."""
    canvas, lefts = _lay_out(panels)
    height = canvas.shape[0]
    top = TITLE_SPACE if title else TITLE_SPACE // 2
    fig = Figure(figsize=(canvas.shape[1] / dpi, (height + top) / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, height / (height + top)))
    ax.imshow(canvas, interpolation="nearest")
    ax.axis("off")
    for (panel, name), left in zip(panels, lefts, strict=True):
        ax.text(left + panel.shape[1] / 2, -3, name, ha="center", va="bottom", fontsize=8)
    if title:
        fig.text(0.5, 1, title, ha="center", va="top", fontsize=9)
    return fig, ax, lefts


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    """Matplotlib's own DejaVu Sans, so PIL-drawn views need no system font."""
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


def _canvas_image(panels: list[tuple[np.ndarray, str]], title: str) -> tuple[Image.Image, list[int], int]:
    """The panels as a PIL image, each titled; returns (image, lefts, top of the panels)."""
    canvas, lefts = _lay_out(panels)
    top = TITLE_SPACE if title else TITLE_SPACE // 2
    image = Image.new("RGB", (canvas.shape[1], canvas.shape[0] + top), "white")
    image.paste(Image.fromarray(np.round(canvas * 255).astype(np.uint8)), (0, top))
    draw = ImageDraw.Draw(image)
    for (panel, name), left in zip(panels, lefts, strict=True):
        draw.text((left + panel.shape[1] / 2, top - 3), name, fill="black", font=_font(11), anchor="md")
    if title:
        draw.text((image.width / 2, 3), title, fill="black", font=_font(12), anchor="ma")
    return image, lefts, top


def _label_tiles(ax, labels: list[tuple[int, int, int]], left: int) -> None:
    for channel, top, x in labels:
        ax.text(left + x + 1, top + 1, str(channel), color="white", fontsize=6, va="top", ha="left")
