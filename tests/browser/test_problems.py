"""What the browser check calls a problem, on cell states as the page reports them (no browser needed)."""

from __future__ import annotations

from .lab_page import problems


def cell(**changes: object) -> dict:
    """A clean executed code cell that displays one explorer, with ``changes`` applied."""
    state = {
        "index": 2,
        "source": "explorer = make()\nexplorer",
        "count": 3,
        "tags": [],
        "pending": False,
        "errors": [],
        "widgets": 1,
        "explorers": 1,
        "rendered": 1,
        "failed": 0,
        "shownExplorers": 1,
        "loading": 0,
        "widgetErrors": [],
        "tracebacks": [],
    }
    return state | changes


def test_a_clean_cell_has_no_problem():
    assert problems([cell(), cell(source="", count=None, widgets=0, explorers=0, rendered=0, shownExplorers=0)]) == []


def test_a_widget_output_that_never_rendered_is_a_problem():
    (found,) = problems([cell(rendered=0, shownExplorers=0, explorers=0)])
    assert found == "code cell 2 ('explorer = make()'): 1 widget output(s), 0 rendered"


def test_an_explorer_missing_from_the_page_is_a_problem():
    (found,) = problems([cell(shownExplorers=0)])
    assert found == "code cell 2 ('explorer = make()'): 1 explorer(s) displayed, 0 on the page"


def test_an_unexecuted_or_still_running_cell_is_a_problem():
    assert problems([cell(count=None)]) == problems([cell(pending=True)]) != []


def test_errors_count_unless_the_cell_is_tagged_raises_exception():
    broken = {"errors": ["ValueError: bad"], "tracebacks": ["Traceback (most recent call last) ..."]}
    assert len(problems([cell(**broken)])) == 2
    assert problems([cell(**broken, tags=["raises-exception"])]) == []
