"""The project's setup files agree with each other."""

from __future__ import annotations

import re

from .conftest import ROOT


def _requirements() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def _environment_pins() -> set[str]:
    text = (ROOT / "environment.yml").read_text()
    return set(re.findall(r"^\s+- ([A-Za-z0-9_.\-]+==[^\s]+)\s*$", text, flags=re.M))


def test_every_requirement_is_pinned_exactly():
    for requirement in _requirements():
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][^\s]*", requirement), requirement


def test_environment_yml_repeats_requirements():
    assert _environment_pins() == _requirements()


def test_torch_is_the_cpu_pin():
    assert "torch==2.13.0" in _requirements()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"


def test_parallel_tests_keep_each_file_in_one_process():
    # nbval runs a notebook's cells in order in one kernel: xdist must hand out whole files, never single tests.
    pytest_lines = [line for line in (ROOT / "Makefile").read_text().splitlines() if "-m pytest" in line]
    assert pytest_lines and all("--dist loadfile" in line for line in pytest_lines if " -n " in line), pytest_lines
