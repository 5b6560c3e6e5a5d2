"""Tracing a model with ``torch.fx`` and recording which graph node each module call returns: the
graph every receptive-field tool (analytic, measured) walks."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import fx, nn

from ...model import InceptionV2


class ModuleOutputTracer(fx.Tracer):
    """An ``fx.Tracer`` that also records which graph node each module call returns.

    Modules from ``torch.nn`` stay leaves (fx's default); everything else, such as ``BasicConv2d``
    or ``InceptionBranch`` (whose ``fork`` argument is a tuple of modules, a constant), is traced
    through, so the graph holds every branch.
    """

    def __init__(self) -> None:
        super().__init__()
        self.module_outputs: list[tuple[str, fx.Node]] = []

    def call_module(self, m: nn.Module, forward: Callable, args: tuple, kwargs: dict) -> Any:
        out = super().call_module(m, forward, args, kwargs)
        if isinstance(out, fx.Proxy):
            self.module_outputs.append((self.path_of_module(m), out.node))
        return out


def traced_root(model: nn.Module) -> tuple[nn.Module, str]:
    """The part of ``model`` to trace and the prefix its module names get.

    For an ``InceptionV2`` that is the trunk ``model.features`` (prefix ``"features."``): the
    classifier has no spatial field and the input checks of ``forward`` cannot be traced.
    """
    if isinstance(model, InceptionV2):
        return model.features, "features."
    return model, ""


def trace(model: nn.Module) -> tuple[fx.Graph, list[tuple[str, fx.Node]]]:
    """The fx graph of ``model``'s forward, and (qualified module name, output node) per module call.

    Only the first argument of ``forward`` (the image) is symbolic; every other parameter keeps its
    default value (``InceptionFeatures.forward``'s ``with_aux=False``, for instance).
    """
    root, prefix = traced_root(model)
    concrete = {}
    for index, parameter in enumerate(inspect.signature(root.forward).parameters.values()):
        if index == 0 or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.default is parameter.empty:
            raise ValueError(
                f"{type(root).__name__}.forward needs argument {parameter.name!r} besides the image; only "
                "models whose other arguments have defaults can be traced"
            )
        concrete[parameter.name] = parameter.default
    tracer = ModuleOutputTracer()
    try:
        graph = tracer.trace(root, concrete_args=concrete or None)
    except Exception as err:  # fx raises assorted errors on data-dependent Python control flow
        raise ValueError(
            f"torch.fx cannot trace {type(root).__name__} ({type(err).__name__}: {err}); trace a part of the "
            "model whose forward has no data-dependent control flow (e.g. its convolutional trunk)"
        ) from err
    calls = [(prefix + name, node) for name, node in tracer.module_outputs if name]
    return graph, calls


def module_nodes(calls: list[tuple[str, fx.Node]]) -> dict[str, fx.Node]:
    """Module calls from ``trace`` keyed by name; a module called again gets ``name#2``, ``name#3``, ..."""
    found: dict[str, fx.Node] = {}
    for name, node in calls:
        key, repeat = name, 1
        while key in found:
            repeat += 1
            key = f"{name}#{repeat}"
        found[key] = node
    return found
