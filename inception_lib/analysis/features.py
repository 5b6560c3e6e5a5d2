"""Feature maps: what the modules of a network compute on real images.

``FeatureCache`` captures the outputs of any named submodules with forward hooks and keeps them,
so a widget that flips between modules, branches and channels runs the network once per image
batch, not once per click. ``FeatureMaps`` holds the bundled photos and one cache per model (e.g.
random and trained weights) and answers per block, branch and channel; ``statistics`` and
``weight_change`` summarize how the models differ block by block. What a channel responds to:
``strongest_channels`` (peak, where, how far the response spreads), ``edge_alignment`` (does the map
follow the photo's edges), ``response_summary`` (both, per block) and ``class_evidence`` (where on
the grid the classifier's evidence comes from). ``draw.features`` draws them.

>>> cache = FeatureCache(InceptionV2(num_classes=3, seed=0))
>>> acts = cache.activations(image_batch(), ["features.mixed_7.0"])   # {name: (N, 2048, 8, 8)}
>>> cache.branches(image_batch(), "features.mixed_7.0")              # per-branch outputs, pre-concat
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..assets.images import IMAGE_SIZE, image_batch, list_images
from ..model import InceptionBlock
from ..model.runtime import evaluating


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
        run = getattr(self.model, "forward_features", self.model)
        try:
            with torch.no_grad(), evaluating(self.model):
                run(images)
                self.forward_calls += 1
        finally:
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


class FeatureMaps:
    """The activations behind the feature-map explorers, with everything they need cached.

    Holds the photos and one ``FeatureCache`` per model (e.g. ``{"random": m1, "trained": m2}``) and
    answers for a photo, a block, one of its branches (or all of them) and a model.
    ``precompute()`` captures every block and branch in one forward pass per model, after which
    every question is a cache hit.
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

    def weights_label(self, weights: str | None) -> str:
        """The name of the model ``weights`` selects (the first one for None)."""
        return weights or next(iter(self.caches))

    def statistics(self, weights: str | None = None) -> list[BlockStats]:
        """Per block, in network order: how large and how sparse its output is on the photos."""
        stats = []
        # Every block in one pass of the network (the cache captures all missing names at once).
        for block, act in self._cache(weights).activations(self.images, self.blocks).items():
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


# --- what a channel responds to: where its strongest responses are, how far they spread, whether
# they follow the edges of the photo, and where the classifier's evidence comes from.


@dataclass(frozen=True)
class ChannelResponse:
    """One channel's response to one image: its peak, where the peak is, and how far the response spreads."""

    channel: int
    peak: float  # largest value on the grid
    row: int  # grid position of the peak
    col: int
    extent: float  # share of grid positions at or above half the peak (0 for a silent channel)


def response_extent(activation: Tensor) -> Tensor:
    """(..., C): share of the grid positions at which each channel of ``activation`` (..., C, H, W)
    reaches at least half its own peak; 0 for a channel that is zero everywhere."""
    peak = activation.amax(dim=(-2, -1), keepdim=True)
    share = (activation >= 0.5 * peak).float().mean(dim=(-2, -1))
    return torch.where(peak[..., 0, 0] > 0, share, torch.zeros_like(share))


def strongest_channels(activation: Tensor, count: int = 8) -> list[ChannelResponse]:
    """The ``count`` channels of one image's (C, H, W) output with the highest peaks, strongest first."""
    if activation.dim() != 3:
        raise ValueError(f"expected one image's activation (C, H, W), got shape {tuple(activation.shape)}")
    if not 1 <= count <= activation.shape[0]:
        raise ValueError(f"count must be within 1..{activation.shape[0]} (the channels), got {count}")
    flat = activation.flatten(1)
    peaks, where = flat.max(dim=1)
    extents = response_extent(activation)
    width = activation.shape[2]
    return [
        ChannelResponse(c, float(peaks[c]), int(where[c]) // width, int(where[c]) % width, float(extents[c]))
        for c in peaks.topk(count).indices.tolist()
    ]


_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def edge_strength(images: Tensor, size: int) -> Tensor:
    """(N, size, size): how steeply the grey level changes around each place of each image of
    ``images`` (N, 3, H, W), as the Sobel gradient magnitude averaged onto a size × size grid (the
    grid of the block it is compared with)."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images of shape (N, 3, H, W), got {tuple(images.shape)}")
    if not 1 <= size <= min(images.shape[2:]):
        raise ValueError(f"size must be within 1..{min(images.shape[2:])} (the image side), got {size}")
    # Replicate the border: zero padding would invent an edge around every image.
    grey = F.pad(images.float().mean(dim=1, keepdim=True), (1, 1, 1, 1), mode="replicate")
    kernel = _SOBEL.view(1, 1, 3, 3)
    dx, dy = F.conv2d(grey, kernel), F.conv2d(grey, kernel.transpose(2, 3))
    return F.adaptive_avg_pool2d((dx**2 + dy**2).sqrt(), size)[:, 0]


def edge_alignment(activations: Tensor, images: Tensor) -> Tensor:
    """(N, C): correlation over the grid positions between each channel map of ``activations``
    (N, C, H, W) and the edge strength of its image; 0 for a channel that is constant on the grid."""
    if activations.dim() != 4 or activations.shape[0] != images.shape[0]:
        raise ValueError(
            f"expected activations (N, C, H, W) for the {images.shape[0]} images, got {tuple(activations.shape)}"
        )
    maps = activations.float().flatten(2)
    edges = edge_strength(images, activations.shape[2]).flatten(1)[:, None, :]
    maps, edges = maps - maps.mean(dim=2, keepdim=True), edges - edges.mean(dim=2, keepdim=True)
    scale = maps.norm(dim=2) * edges.norm(dim=2)
    return torch.where(scale > 0, (maps * edges).sum(dim=2) / scale.clamp_min(1e-12), torch.zeros_like(scale))


@dataclass(frozen=True)
class BlockResponses:
    """How one block's channels respond to a batch of photos (``response_summary``)."""

    block: str
    grid: int  # side of the block's output grid
    extent: float  # mean extent of each photo's strongest channels
    edge_share: float  # share of channels whose map follows the photos' edges (mean correlation above the threshold)


def response_summary(
    maps: FeatureMaps, weights: str | None = None, count: int = 8, threshold: float = 0.3
) -> list[BlockResponses]:
    """Per block, in network order: how far the ``count`` strongest channels of each photo spread
    (``response_extent``) and how many channels follow the photos' edges (``edge_alignment``,
    averaged over the photos, above ``threshold``)."""
    rows = []
    for block, act in maps._cache(weights).activations(maps.images, maps.blocks).items():  # one pass for all
        extents = [sum(r.extent for r in strongest_channels(a, count)) / count for a in act]
        alignment = edge_alignment(act, maps.images).mean(dim=0)
        rows.append(
            BlockResponses(
                block.removeprefix("features."),
                act.shape[-1],
                sum(extents) / len(extents),
                float((alignment > threshold).float().mean()),
            )
        )
    return rows


def class_evidence(model: nn.Module, images: Tensor) -> Tensor:
    """(N, K, H, W): each class's share of the logit at every position of the last block's grid.

    The head averages the last block's output over the grid and applies one linear layer, so
    ``fc(A[:, :, h, w])`` at each position averages exactly to the logits (dropout is off in eval
    mode): the map shows where on the grid the evidence for each class comes from (a "class
    activation map", Zhou et al., CVPR 2016). ``model`` needs ``forward_features``, a global
    average pool ``avgpool`` and a linear ``fc``, as ``InceptionV2`` has.
    """
    fc, pool = getattr(model, "fc", None), getattr(model, "avgpool", None)
    global_pool = isinstance(pool, nn.AdaptiveAvgPool2d) and pool.output_size in (1, (1, 1))
    if not isinstance(fc, nn.Linear) or not global_pool:
        raise ValueError(f"{type(model).__name__} has no global-average-pool + linear head (avgpool, fc)")
    with torch.no_grad(), evaluating(model):
        features = model.forward_features(images)
    return torch.einsum("kc,nchw->nkhw", fc.weight, features) + fc.bias[None, :, None, None]
