"""The whole network as a line of steps: each stem layer and each stage with its output shape, its
cost and the paper's figure it implements, plus the auxiliary head branching off. This is what
``draw.network.draw_network`` draws; everything comes from one trace of the live model.

>>> [s.label for s in network_outline(InceptionV2(device="meta"))][8:10]   # ['3 × F5', 'grid reduction']
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..model import InceptionV2
from .costs import stage_costs
from .shapes import shape_flow, trace

# Which part of the paper each kind of stage implements.
FIGURES = {
    "InceptionModuleF5": "Figure 5",
    "InceptionModuleF6": "Figure 6",
    "InceptionModuleF7": "Figure 7",
    "GridReduction": "Figure 10",
    "InceptionAux": "Section 4",
}


@dataclass(frozen=True)
class OutlineStep:
    """One box of the whole-network diagram."""

    name: str  # qualified name in the model ("input" for the image)
    label: str  # e.g. "conv 3x3/2", "3 × F5", "grid reduction", "aux head"
    kind: str  # "input", "layer" (stem), "stage", "aux" or "head"
    shape: tuple[int, ...]  # output shape without batch
    params: int
    mult_adds: int
    source: str  # the paper's figure or section, "" for plain layers


def _figure(module: nn.Module) -> str:
    first = module[0] if isinstance(module, nn.Sequential) and len(module) else module
    return FIGURES.get(type(first).__name__, "")


def network_outline(model: InceptionV2, size: int = 299) -> list[OutlineStep]:
    """Input, stem layers, stages, classifier and (when the model has one and ``size`` allows it)
    the auxiliary head, which reads the output of ``model.features.aux_after``."""
    rows = {r.name: r for r in trace(model, (3, size, size))}
    steps = []
    for flow in shape_flow(model, size):
        if flow.name == "input":
            steps.append(OutlineStep("input", "image", "input", flow.shape, 0, 0, ""))
            continue
        module = model.get_submodule(flow.name)
        stage = not flow.name.startswith("features.stem.")
        label = flow.label.replace(" x ", " × ") if stage else flow.label
        row = rows[flow.name]
        kind = "stage" if stage else "layer"
        steps.append(OutlineStep(flow.name, label, kind, flow.shape, row.params, row.mult_adds, _figure(module)))
        if flow.name == f"features.{model.features.aux_after}" and "features.aux" in rows:  # the trace ran it
            r = rows["features.aux"]
            source = _figure(model.features.aux)
            steps.append(OutlineStep(r.name, "aux head", "aux", r.output_shape, r.params, r.mult_adds, source))
    head = stage_costs(list(rows.values()))["classifier"]  # pool, dropout, flatten, linear
    fc = rows["fc"].output_shape
    steps.append(OutlineStep("fc", "pool, dropout, linear", "head", fc, head.params, head.mult_adds, "Table 1"))
    return steps
