"""The package layout is the architecture: each stage in its folder, imports only going down
(every import counts, also those inside functions), and every package saying what it may use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers import ROOT

PACKAGE = ROOT / "catsdogs"
FOUNDATION = {
    "errors",
    "paths",
    "process",
    "signals",
    "files",
    "quiet",
    "plots",
    "config",
    "durations",
    "progress",
}
# What each layer may import, besides itself and the foundation modules.
MAY_IMPORT = {
    "foundation": set(),
    "data": set(),
    "optim": set(),
    "model": set(),
    "training": {"data", "optim", "model"},
    "predict": {"data", "model", "training"},
    "sweep": {"data", "training", "predict"},
    "cli": {"data", "optim", "model", "training", "predict", "sweep"},
}


def layer(module: str) -> str:
    """``catsdogs.training.loop`` -> ``training``; a top-level module is the foundation."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in FOUNDATION or parts[1] in ("__init__", "__version__"):
        return "foundation"
    if parts[1] in ("cli", "__main__"):
        return "cli"
    return parts[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every catsdogs module ``path`` imports, wherever the import stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("catsdogs")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("catsdogs"):
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_only_go_down(path):
    mine = layer(module_name(path))
    allowed = MAY_IMPORT[mine] | {mine, "foundation"}
    wrong = sorted(name for name in imports(path) if layer(name) not in allowed)
    assert not wrong, f"{module_name(path)} ({mine}) imports {wrong}"


def test_the_check_sees_imports_inside_functions():
    loop = PACKAGE / "predict" / "predictor.py"
    assert "catsdogs.data.pipeline.resize" in imports(loop)  # imported where a model runs
    assert layer("catsdogs.data.pipeline.resize") == "data"
    assert layer("catsdogs.config.load") == "foundation"
    assert layer("catsdogs.cli") == "cli"


def test_each_stage_has_a_folder_that_says_its_job_and_what_it_may_import():
    stages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert stages == ["data", "model", "optim", "predict", "sweep", "training"]
    for stage in stages:
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
        assert doc and "May import" in doc, stage
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert top == sorted({"__init__", "__main__", "cli", *FOUNDATION})
