"""The SVG charts behind the training explorers: well-formed pictures that carry the same
information as the matplotlib figures they replace, and explorers that redraw them on every control."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from inception_lib.draw.svg import Panel, SvgChart, nice_ticks, svg_document
from inception_lib.draw.training import plot_epoch, plot_label_smoothing
from inception_lib.explorers.training import label_smoothing_explorer, run_explorer
from inception_lib.training.losses import optimal_logit_gap

SVG = "{http://www.w3.org/2000/svg}"


def texts(chart: str) -> list[str]:
    return [node.text for node in ET.fromstring(chart).iter(f"{SVG}text")]


def _history(epochs: int = 3) -> list[dict]:
    return [
        {
            "epoch": e,
            "val_acc": 0.3 * e,
            "val_acc_ema": 0.31 * e,
            "confusion": [[e, 0, 0], [0, e, 1], [0, 0, e]],
            "confusion_ema": [[e, 1, 0], [0, e, 0], [0, 0, e]],
        }
        for e in range(1, epochs + 1)
    ]


def test_nice_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 15) == [0, 5, 10, 15]
    assert nice_ticks(1, 8) == [2, 4, 6, 8]
    assert nice_ticks(0, 1.1) == [0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(3, 3) == [3]


def test_a_chart_is_svg_that_jupyter_shows_as_a_picture():
    panel = Panel(10, 10, 100, 50, xlim=(0, 1), ylim=(0, 1))
    panel.line([0, 1], [0, 1], label="rising")
    panel.legend()
    chart = svg_document(120, 70, [panel])
    assert isinstance(chart, str) and chart._repr_svg_() == chart
    assert repr(chart).startswith("<SvgChart, ") and texts(chart) == ["rising"]
    assert ET.fromstring(chart).get("width") == "120"


def test_label_smoothing_chart_shows_targets_losses_and_the_optimum():
    chart = plot_label_smoothing(0.2, 10)
    assert isinstance(chart, SvgChart)
    shown = texts(chart)
    for label in ("targets, K = 10", "loss", "one-hot δ", "q' (ε = 0.20)", "ε = 0 (keeps falling)", "cross-entropy"):
        assert label in shown
    assert f"optimum: gap {optimal_logit_gap(10, 0.2):.2f}" in shown
    assert len(ET.fromstring(chart).findall(f"{SVG}polyline")) == 2  # with and without smoothing
    assert "class (first 10)" in texts(plot_label_smoothing(0.1, 1000))
    assert not any(t.startswith("optimum") for t in texts(plot_label_smoothing(0.0, 3)))  # no finite optimum
    with pytest.raises(ValueError, match="num_classes must be at least 2"):
        plot_label_smoothing(0.1, 1)
    with pytest.raises(ValueError, match="epsilon must be in"):
        plot_label_smoothing(1.0, 3)


def test_epoch_chart_shows_the_curve_and_that_epochs_confusion_matrix():
    history = _history()
    chart = plot_epoch(history, 2, average=False, classes=("a", "b", "c"))
    shown = texts(chart)
    assert "epoch 2: accuracy 60.0%" in shown and "raw weights" in shown and "chance" in shown
    assert [t for t in shown if t in ("a", "b", "c")] == ["a", "b", "c"] * 2  # columns and rows
    cells = [node.text for node in ET.fromstring(chart).iter(f"{SVG}text") if node.get("fill")]  # the heat map's
    assert cells == [str(v) for row in history[1]["confusion"] for v in row]
    assert "weight average" in texts(plot_epoch(history, 3))
    with pytest.raises(ValueError, match="epoch 7 is not in this history"):
        plot_epoch(history, 7)
    with pytest.raises(ValueError, match=r"not 2×2 for classes"):
        plot_epoch(history, 1, classes=("a", "b"))


def test_training_explorers_redraw_their_svg_on_each_control():
    smoothing = label_smoothing_explorer()
    seen = {smoothing.html.value}
    smoothing.set(epsilon=0.3)
    seen.add(smoothing.html.value)
    smoothing.set(num_classes=1000)
    seen.add(smoothing.html.value)
    assert len(seen) == 3 and all(value.startswith("<svg") for value in seen)
    run = run_explorer(_history())
    seen = {run.html.value}
    run.set(epoch=1)
    seen.add(run.html.value)
    run.set(average=False)
    seen.add(run.html.value)
    assert len(seen) == 3 and "epoch 1: accuracy 30.0%" in run.html.value
