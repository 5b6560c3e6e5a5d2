"""Every link to where the course lives, derived from ``[project.urls] Repository`` in ``pyproject.toml``.

>>> colab_url("04_module_f6.ipynb")
'https://colab.research.google.com/github/<owner>/<name>/blob/main/notebooks/04_module_f6.ipynb'
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlparse

ROOT = Path(__file__).resolve().parents[1]
BRANCH = "main"
NOTEBOOKS_DIR = "notebooks"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


@cache
def repository_url() -> str:
    """The course repository's URL (a GitHub repository: Binder and Colab read it from there)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    url = project["urls"]["Repository"].rstrip("/")
    parts = urlparse(url)
    if parts.netloc != "github.com" or len(parts.path.strip("/").split("/")) != 2:
        raise ValueError(f"[project.urls] Repository must be https://github.com/OWNER/NAME, got {url!r}")
    return url


def _slug() -> str:
    return urlparse(repository_url()).path.strip("/")


def pip_requirement() -> str:
    """What ``%pip install`` takes to install the library from the repository."""
    return f"inception-lib @ git+{repository_url()}@{BRANCH}"


def binder_url(notebook: str | None = None) -> str:
    """Binder (which builds ``environment.yml`` and runs ``postBuild``), opening ``notebook`` in JupyterLab."""
    url = f"https://mybinder.org/v2/gh/{_slug()}/{BRANCH}"
    return url if notebook is None else f"{url}?labpath={quote(f'{NOTEBOOKS_DIR}/{notebook}', safe='')}"


def colab_url(notebook: str) -> str:
    """Colab opening ``notebook`` straight from the repository."""
    return f"https://colab.research.google.com/github/{_slug()}/blob/{BRANCH}/{NOTEBOOKS_DIR}/{notebook}"
