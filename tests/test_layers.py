"""The package's folders are its layers: a lower layer never imports a higher one, and the headless
paths (training, inference, the command line) never pull in a plotting or widget library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "inception_lib"
FIXTURES = Path(__file__).parent / "fixtures" / "layers"

# Which parts of inception_lib each layer may import (itself included), and which outside
# libraries it must not. The top-level package and ``__main__`` only re-export and dispatch.
ALLOWED = {
    "model": {"model"},
    "assets": {"assets", "model"},
    "analysis": {"analysis", "assets", "model"},
    "training": {"training", "assets", "model"},
    "inference": {"inference", "model"},
    "draw": {"draw", "analysis", "training", "inference", "assets", "model"},
    "explorers": {"explorers", "draw", "analysis", "training", "inference", "assets", "model"},
    "cli": {"cli", "analysis", "training", "inference", "assets", "model"},
    "__init__": {"model"},
    "__main__": {"cli"},
}
HEADLESS = {"matplotlib", "ipywidgets", "IPython"}
FORBIDDEN = {
    "model": HEADLESS | {"PIL", "numpy", "torchinfo", "tqdm"},
    "assets": HEADLESS,
    "analysis": HEADLESS,
    "training": HEADLESS,
    "inference": HEADLESS,
    "draw": {"ipywidgets", "IPython"},
    "explorers": set(),
    "cli": HEADLESS,
    "__init__": HEADLESS,
    "__main__": HEADLESS,
}


def _layer(path: Path, package: Path) -> str:
    """The layer a file of ``package`` belongs to: its top folder, or its module name at the top."""
    parts = path.relative_to(package).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def _imports(path: Path, package: Path) -> list[tuple[int, str, str]]:
    """(line, "internal" or "external", name) of every import in ``path``: for an import of
    ``package`` itself, the first part after the package name (a layer); else the library's name."""
    folder = list(path.relative_to(package).parts[:-1])  # the sub-package the file is in
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            target = folder[: len(folder) - node.level + 1] + (node.module.split(".") if node.module else [])
            names = target[:1] or [alias.name for alias in node.names]  # ``from . import x`` at the top
            found += [(node.lineno, "internal", name) for name in names]
            continue
        modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        for module in modules:
            parts = module.split(".")
            if parts[0] == package.name:
                found.append((node.lineno, "internal", parts[1] if len(parts) > 1 else "__init__"))
            else:
                found.append((node.lineno, "external", parts[0]))
    return found


def violations(package: Path) -> list[str]:
    """Every import in ``package`` that breaks the layer rules, as ``file:line: what``."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        layer = _layer(path, package)
        if layer not in ALLOWED:
            problems.append(f"{path.relative_to(package)}: not in any known layer ({', '.join(ALLOWED)})")
            continue
        for line, kind, name in _imports(path, package):
            where = f"{path.relative_to(package)}:{line}"
            if kind == "internal" and name not in ALLOWED[layer]:
                problems.append(f"{where}: {layer} imports {name}")
            if kind == "external" and name in FORBIDDEN[layer]:
                problems.append(f"{where}: {layer} imports {name}")
    return problems


def test_the_package_keeps_its_layers():
    assert violations(PACKAGE) == []


def test_a_lower_layer_importing_a_higher_one_is_caught():
    """The fixture package breaks each rule once; the check names each file and line."""
    found = violations(FIXTURES / "inception_lib")
    assert sorted(found) == [
        "analysis/reads_training.py:3: analysis imports training",
        "inference/plots.py:3: inference imports matplotlib",
        "model/uses_widgets.py:3: model imports explorers",
        "training/draws.py:3: training imports draw",
    ]


def _loaded_plotting_modules(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; the matplotlib and ipywidgets modules it left loaded."""
    check = "\nimport sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {'matplotlib', 'ipywidgets'}))"
    result = subprocess.run([sys.executable, "-c", code + check], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_the_train_command_is_headless(tmp_path):
    options = "--preset cpu --epochs 1 --train-size 8 --val-size 3 --batch-size 4 --no-progress"
    argv = ["train", *options.split(), "--out-dir", str(tmp_path)]
    code = f"from inception_lib.cli import main\nmain({argv!r})"
    assert _loaded_plotting_modules(code) == []
    assert (tmp_path / "weights.pt").is_file()  # it did train


def test_the_fast_path_is_headless():
    code = (
        "import torch\nfrom inception_lib import InceptionV2\n"
        "from inception_lib.inference.fast_path import optimize_for_inference\n"
        "from inception_lib.inference.timing import measure_interleaved\n"
        "fast = optimize_for_inference(InceptionV2(num_classes=3, aux_logits=False).eval())\n"
        "measure_interleaved({'fast': lambda: fast(torch.zeros(1, 3, 75, 75))}, rounds=1)"
    )
    assert _loaded_plotting_modules(code) == []


def test_the_check_sees_a_plotting_import():
    assert "matplotlib.figure" in _loaded_plotting_modules("import inception_lib.draw.costs")
