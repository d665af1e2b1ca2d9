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
    "outputs",
    "printing",
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
    "api": {"data", "optim", "model", "training", "predict"},
    "cli": {"data", "optim", "model", "training", "predict", "sweep"},
}


def layer(module: str) -> str:
    """``catsdogs.training.loop`` -> ``training``; a top-level module is the foundation, but
    the package itself and ``catsdogs.api``: the Python API, over the stages."""
    parts = module.split(".")
    if module == "catsdogs" or parts[1] == "api":
        return "api"
    if parts[1] in FOUNDATION or parts[1] in ("__init__", "__version__"):
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
    assert top == sorted({"__init__", "__main__", "api", "cli", *FOUNDATION})


def module_of(name: str, modules: set[str]) -> str | None:
    """The catsdogs module an imported name lives in (``catsdogs.training.loop.fit`` ->
    ``catsdogs.training.loop``), None for ``catsdogs`` itself."""
    parts = name.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    found = ".".join(parts)
    return found if found != "catsdogs" else None


def circle(graph: dict[str, set[str]]) -> list[str] | None:
    """An import circle of ``graph`` (module -> the modules it imports) as the modules along
    it, the first repeated at the end; None where there is none."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        for imported in sorted(graph.get(module, ())):
            if found := visit(imported, [*path, module]):
                return found
        done.add(module)
        return None

    return next((found for m in sorted(graph) if (found := visit(m, []))), None)


def test_the_circle_check_finds_a_circle_and_a_clean_graph_passes():
    assert circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert circle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    modules = {"catsdogs", "catsdogs.predict", "catsdogs.predict.command"}
    assert module_of("catsdogs.predict.command.TTA", modules) == "catsdogs.predict.command"
    assert module_of("catsdogs.predict.TTA", modules) == "catsdogs.predict"


def test_no_module_imports_itself_through_others():
    # Every import counts, those inside functions too: a circle is a design knot even where
    # a lazy import keeps Python from tripping on it.
    modules = {module_name(path) for path in MODULES}
    graph = {
        module_name(path): {
            found
            for name in imports(path)
            if (found := module_of(name, modules)) and found != module_name(path)
        }
        for path in MODULES
    }
    assert circle(graph) is None, " -> ".join(circle(graph))
