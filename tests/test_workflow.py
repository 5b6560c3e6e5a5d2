"""The GitHub Actions workflow runs README's test command on every push and pull request; actionlint passes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "test.yml"
ACTIONLINT = Path(sys.executable).parent / "actionlint"


def readme_test_command() -> str:
    """The command README's "Two commands" block gives for running every test."""
    match = re.search(r"^(make test)\s+#", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.M)
    assert match, "README has no `make test  # ...` line"
    return match[1]


def _actionlint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(ACTIONLINT), "-no-color", str(path)], capture_output=True, text=True, cwd=ROOT)


def test_actionlint_passes():
    result = _actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = WORKFLOW.read_text().replace("path: ~/.cache/pip", "pth: ~/.cache/pip")
    (tmp_path / "broken.yml").write_text(broken)
    result = _actionlint(tmp_path / "broken.yml")
    assert result.returncode != 0 and "pth" in result.stdout


def test_workflow_runs_the_readme_test_command_on_push_and_pull_request():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert set(workflow[True]) == {"push", "pull_request"}  # YAML 1.1 reads the key `on` as True
    (job,) = workflow["jobs"].values()
    assert job["runs-on"].startswith("ubuntu-")
    assert job["container"].startswith("python:3.11")
    steps = job["steps"]
    assert any(s.get("uses", "").startswith("actions/cache@") and s["with"]["path"] == "~/.cache/pip" for s in steps)
    assert steps[-1]["run"] == readme_test_command() == (ROOT / ".ci" / "run").read_text().split()[-2] + " test"
