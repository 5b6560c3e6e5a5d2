"""Analytic receptive fields of any CNN built from convolutions, pooling, padding, pointwise layers,
sums and concatenations, per axis, traced from the live graph with ``torch.fx``.

The arithmetic is that of Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural
Networks" (Distill, 2019), in its forward form, from the input. Along one axis a window layer with
kernel ``k``, stride ``s``, left padding ``p`` and dilation ``d`` (effective kernel ``d(k-1)+1``) maps

    size  -> size + (d(k-1)+1 - 1) * jump      (Distill's r_{l-1} = s r_l + (k - s) runs the other way)
    jump  -> jump * s                          (the effective stride: strides multiply)
    start -> start - p * jump                  (left edge of unit 0's field; -start is the effective padding)

Height and width are separate: a 1x7 convolution widens the field and leaves its height alone.

Where branches meet (a concatenation or a sum), each branch brings its own field. When they share
the jump and the centre the graph is *aligned* and the combined field is, axis by axis, the largest
one: for branches whose fields cross (a 1x3 arm beside a 3x1 arm) that is the bounding box of their
union, not the union itself. When they do not, ``aligned`` is False and ``misaligned()`` names the
meeting point: the field is then not shift-invariant (Distill's alignment criteria), and the combined
value is only exact for the first unit.

>>> rfs = analytic_receptive_fields(InceptionV2(), 299)
>>> rfs["features.mixed_6.4"].size, rfs["features.mixed_6.4"].jump      # ((1135, 1135), (16, 16))
>>> rfs.branches("features.mixed_6.4")       # every branch's field, in concatenation order
>>> rfs.box("features.mixed_6.4", 8, 8)      # the input pixels unit (8, 8) sees, clipped to the image
>>> rfs.trunk(), rfs.layers(), rfs.misaligned()
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from torch import fx, nn

from .fields import Box, Pair, ReceptiveField
from .graph import module_nodes, trace, traced_root
from .operations import Adaptive, Merge, Opaque, Window, node_operation


@dataclass(frozen=True)
class _Axis:
    size: int
    jump: int
    start: int
    grid: int
    aligned: bool = True
    # Units first..last read at least one image pixel; together they read image pixels lo..hi.
    first: int = 0
    last: int = -1
    lo: int = 0
    hi: int = -1

    @classmethod
    def image(cls, length: int) -> _Axis:
        return cls(1, 1, 0, length, True, 0, length - 1, 0, length - 1)

    @property
    def twice_center(self) -> int:  # an integer, so centres compare exactly
        return 2 * self.start + self.size - 1

    def through(self, window: Window, axis: int, where: str) -> _Axis:
        grid = window.output_length(self.grid, axis)
        if grid < 1:
            raise ValueError(
                f"{where}: a grid of {self.grid} along {'height' if axis == 0 else 'width'} is too small for its "
                f"window (kernel {window.kernel[axis]}, dilation {window.dilation[axis]}, padding "
                f"{window.pad_begin[axis]}+{window.pad_end[axis]}); use a larger input size"
            )
        k_eff = window.dilation[axis] * (window.kernel[axis] - 1) + 1
        stride, pad = window.stride[axis], window.pad_begin[axis]
        size, jump, start = self.size + (k_eff - 1) * self.jump, self.jump * stride, self.start - pad * self.jump
        # A unit is live when its window meets a live unit of the layer before.
        first = max(0, -(-(self.first + pad - k_eff + 1) // stride))
        last = min(grid - 1, (self.last + pad) // stride)
        lo, hi = max(self.lo, start + first * jump), min(self.hi, start + last * jump + size - 1)
        return _Axis(size, jump, start, grid, self.aligned, first, last, lo, hi)


def _merge_axis(parts: list[_Axis], where: str) -> _Axis:
    grids = {p.grid for p in parts}
    if len(grids) > 1:
        raise ValueError(f"{where}: the merged branches have different grid sizes {sorted(grids)} at this input size")
    aligned = all(p.aligned for p in parts)
    aligned &= len({p.jump for p in parts}) == 1 and len({p.twice_center for p in parts}) == 1
    reach = {
        "first": min(p.first for p in parts),
        "last": max(p.last for p in parts),
        "lo": min(p.lo for p in parts),
        "hi": max(p.hi for p in parts),
    }
    if len({p.jump for p in parts}) == 1:
        # Same jump: the union of the branches' regions is one interval, the same for every unit.
        start = min(p.start for p in parts)
        end = max(p.start + p.size for p in parts)
        return _Axis(end - start, parts[0].jump, start, parts[0].grid, aligned, **reach)
    # Different jumps: the regions drift apart from unit to unit. Keep the largest branch, as
    # Distill's algorithm does; ``aligned`` is False, so the result is flagged.
    widest = max(parts, key=lambda p: p.size)
    return _Axis(widest.size, widest.jump, widest.start, widest.grid, False, **reach)


@dataclass(frozen=True)
class _Field:
    axes: tuple[_Axis, _Axis]

    def public(self) -> ReceptiveField:
        h, w = self.axes
        live = ((h.first, w.first), (h.last, w.last)) if h.first <= h.last and w.first <= w.last else None
        cover = Box(h.lo, w.lo, h.hi, w.hi) if h.lo <= h.hi and w.lo <= w.hi else None
        return ReceptiveField(
            (h.size, w.size),
            (h.jump, w.jump),
            (h.start, w.start),
            (h.grid, w.grid),
            h.aligned and w.aligned,
            live,
            cover,
        )


def _image_size(input_size: int | tuple[int, int]) -> Pair:
    pair = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise ValueError(f"input_size must be a positive int or a (height, width) pair of them, got {input_size!r}")
    return pair  # type: ignore[return-value]


def _tensor_args(node: fx.Node) -> list[fx.Node]:
    found: list[fx.Node] = []
    fx.node.map_arg((node.args, node.kwargs), lambda n: found.append(n) or n)  # type: ignore[func-returns-value]
    return found


class ReceptiveFields(Mapping[str, ReceptiveField]):
    """Receptive fields keyed by qualified module name, in the order the module calls return.

    A module called more than once gets ``name``, ``name#2``, ... ``output`` is the field of the
    traced model's output; ``branches(name)`` gives the branches meeting at a module's output;
    ``misaligned()`` lists every meeting point whose branches disagree on stride or centre.
    """

    def __init__(self, model: nn.Module, input_size: int | tuple[int, int]) -> None:
        self.input_size = _image_size(input_size)
        graph, calls = trace(model)
        root, prefix = traced_root(model)
        modules = dict(root.named_modules())
        self._nodes: dict[str, _Field] = {}  # fx node name -> field
        self._merges: dict[str, list[str]] = {}  # merge node -> the input nodes that carry a field
        self._passthrough: dict[str, str] = {}  # pointwise node -> its input
        self._misaligned: list[str] = []
        self._inputs: dict[str, list[str]] = {}  # node -> the nodes it reads that carry a field
        self._windows: set[str] = set()  # nodes that slide a window (convolution, pooling, padding)
        opaque: dict[str, str] = {}  # node -> why no field can be followed through it
        image = next(n for n in graph.nodes if n.op == "placeholder")
        self._nodes[image.name] = _Field(tuple(_Axis.image(n) for n in self.input_size))  # type: ignore[arg-type]
        for node in graph.nodes:
            self._visit(node, modules, opaque)
        self._fields: dict[str, ReceptiveField] = {}
        self._module_node: dict[str, str] = {}
        self._node_modules: dict[str, list[str]] = {}
        self._layers: list[str] = []
        for key, node in module_nodes(calls).items():
            if node.name not in self._nodes:
                continue
            self._fields[key] = self._nodes[node.name].public()
            self._module_node[key] = node.name
            self._node_modules.setdefault(node.name, []).append(key)
            if node.op == "call_module" and node.name in self._windows and key == f"{prefix}{node.target}":
                self._layers.append(key)  # the layer itself, not a container that ends with it
        self._output_node = next(
            (n.name for n in _tensor_args(next(iter(reversed(graph.nodes)))) if n.name in self._nodes), None
        )
        self._misaligned = [self._label(node, "") for node in self._misaligned]

    def _visit(self, node: fx.Node, modules: Mapping[str, nn.Module], opaque: dict[str, str]) -> None:
        if node.op in ("placeholder", "output"):
            return
        inputs = _tensor_args(node)
        spatial = [n.name for n in inputs if n.name in self._nodes]
        blocked = [opaque[n.name] for n in inputs if n.name in opaque]
        if not spatial and not blocked:
            return  # nothing here depends on the image (constants, shape checks)
        operation = node_operation(node, modules)
        where = f"{node.target} ({node.name})" if node.op == "call_module" else node.name
        if blocked:
            if isinstance(operation, (Window, Adaptive)):
                raise ValueError(f"{where}: cannot follow the receptive field into this layer: {blocked[0]}")
            opaque[node.name] = blocked[0]
            return
        if isinstance(operation, Opaque):
            opaque[node.name] = f"its input passes through {operation.reason} at {node.name}"
            return
        field = self._nodes[spatial[0]]
        if isinstance(operation, Adaptive):
            operation = operation.window(tuple(a.grid for a in field.axes), where)  # type: ignore[arg-type]
        self._inputs[node.name] = spatial
        if isinstance(operation, Window):
            self._windows.add(node.name)
            self._nodes[node.name] = _Field(tuple(a.through(operation, i, where) for i, a in enumerate(field.axes)))  # type: ignore[arg-type]
        elif isinstance(operation, Merge) and len(spatial) > 1:
            parts = [self._nodes[name] for name in spatial]
            merged = _Field(tuple(_merge_axis([p.axes[i] for p in parts], where) for i in range(2)))  # type: ignore[arg-type]
            if not all(a.aligned for a in merged.axes) and all(a.aligned for p in parts for a in p.axes):
                self._misaligned.append(node.name)  # misalignment starts here
            self._nodes[node.name] = merged
            self._merges[node.name] = spatial
        else:  # pointwise, or an elementwise operation with a single image-dependent operand
            self._nodes[node.name] = field
            self._passthrough[node.name] = spatial[0]

    # --- Mapping ---
    def __getitem__(self, name: str) -> ReceptiveField:
        if name not in self._fields:
            raise KeyError(f"no receptive field for {name!r}; known names start with {list(self._fields)[:5]}")
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    @property
    def output(self) -> ReceptiveField:
        """The field of the traced model's output (the first tensor it returns)."""
        if self._output_node is None:
            raise ValueError("the model's output carries no spatial receptive field (e.g. it ends in a classifier)")
        return self._nodes[self._output_node].public()

    def box(self, name: str, row: int, col: int, clip: bool = True) -> Box | None:
        """Input pixels seen by unit ``(row, col)`` of ``name``: by default the image pixels it reads
        (``ReceptiveField.seen``; None if there are none), else the whole field, padding included.

        The box is the field's hull: with dilation, or a stride longer than its kernel, the field has
        holes, so a clipped box may start on a pixel the unit skips."""
        field = self[name]
        return field.seen(row, col) if clip else field.box(row, col)

    def branches(self, name: str = "") -> dict[str, ReceptiveField]:
        """The fields of the branches that meet at module ``name``'s output (the traced model's own
        output for ``""``), keyed by the outermost sub-module each branch ends in, in merge order."""
        if name and name not in self._module_node:
            raise KeyError(f"no module {name!r} with a receptive field")
        node = self._module_node[name] if name else self._output_node
        while node in self._passthrough and node not in self._merges:
            node = self._passthrough[node]
        if node not in self._merges:
            raise ValueError(f"{name or 'the output'} does not end where branches meet (a concatenation or sum)")
        found: dict[str, ReceptiveField] = {}
        for part in self._merges[node]:
            label, repeat = self._label(part, name), 1
            while label in found:
                repeat += 1
                label = f"{self._label(part, name)}#{repeat}"
            found[label] = self._nodes[part].public()
        return found

    def layers(self) -> list[str]:
        """The convolution, pooling and padding modules, in call order: every layer that changes a field."""
        return list(self._layers)

    def trunk(self) -> list[str]:
        """Module outputs that every path from the input to the output passes through (between
        multi-branch modules, say), in order, each by its innermost module name: for Inception V2
        the stem's layers and every module of mixed_5, mixed_6 and mixed_7 and both reductions."""
        position = {node: i for i, node in enumerate(self._nodes)}
        last_use: dict[str, int] = {}
        for node, inputs in self._inputs.items():
            for source in inputs:
                last_use[source] = max(last_use.get(source, 0), position[node])
        names: list[str] = []
        reach = 0
        for node, i in position.items():
            # In topological order, a node lies on every path iff no edge jumps over it.
            if reach <= i and node in self._node_modules:
                names.append(max(self._node_modules[node], key=lambda m: m.count(".")))
            reach = max(reach, last_use.get(node, i))
        return [n for n in names if not any(n.startswith(other + ".") for other in names)]

    def misaligned(self) -> list[str]:
        """Where branches first meet with different jumps or centres (empty for an aligned network)."""
        return list(self._misaligned)

    def _label(self, node: str, within: str) -> str:
        """The outermost module returning ``node``, named relative to ``within`` or, for parts that
        live beside it (the fork arms of an F7 branch), to the nearest enclosing module."""
        names = [m for m in self._node_modules.get(node, []) if m != within]
        scope = within
        while True:
            prefix = scope + "." if scope else ""
            inside = [m for m in names if m.startswith(prefix)]
            if inside:
                return min(inside, key=lambda m: m.count("."))[len(prefix) :]
            if not scope:
                return node  # no module returns it (e.g. a functional pooling call): its fx name
            scope = scope.rpartition(".")[0]


def analytic_receptive_fields(model: nn.Module, input_size: int | tuple[int, int]) -> ReceptiveFields:
    """Receptive field (size, jump, start, grid; per axis) of every module output of ``model`` for
    an input of ``input_size`` (an int for a square image, or ``(height, width)``).

    Works on any ``torch.fx``-traceable CNN made of convolutions, pooling (max, average, adaptive),
    zero padding, BatchNorm, activations, dropout, sums and channel concatenations; for an
    ``InceptionV2`` it traces the trunk. Raises ``ValueError`` naming the layer when the input is too
    small or a layer the tool cannot follow feeds a convolution or pooling.
    """
    return ReceptiveFields(model, input_size)
