"""One repository URL (pyproject.toml) gives every launch link; README and Binder's files use them."""

from __future__ import annotations

import os

import pytest

from website import links

from .conftest import ROOT


def test_links_derive_from_the_repository():
    url = links.repository_url()
    slug = url.removeprefix("https://github.com/")
    assert links.binder_url("04_module_f6.ipynb").endswith(f"/gh/{slug}/main?labpath=notebooks%2F04_module_f6.ipynb")
    assert links.colab_url("04_module_f6.ipynb").endswith(f"/github/{slug}/blob/main/notebooks/04_module_f6.ipynb")
    assert links.pip_requirement() == f"inception-lib @ git+{url}@main"


def test_readme_has_the_launch_buttons():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert links.binder_url("00_overview.ipynb") in readme
    assert links.colab_url("00_overview.ipynb") in readme


def test_binder_installs_the_library_after_environment_yml():
    post_build = ROOT / "postBuild"
    assert os.access(post_build, os.X_OK) and "pip install --no-deps ." in post_build.read_text()
    assert (ROOT / "environment.yml").exists() and not (ROOT / "binder").exists()  # binder/ would hide both


def test_a_repository_that_is_not_on_github_is_refused(monkeypatch, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project.urls]\nRepository = "https://example.org/x"\n')
    monkeypatch.setattr(links, "ROOT", tmp_path)
    links.repository_url.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"github\.com/OWNER/NAME"):
            links.repository_url()
    finally:
        links.repository_url.cache_clear()
