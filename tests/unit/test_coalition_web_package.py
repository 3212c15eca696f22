"""The coalition web package's shape: its modules import one way only (no cycle, not even one
dodged with an import inside a function), each imports on its own in a fresh interpreter, and
its settings are declared with their help."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import departures.coalition.web as web_package
from departures.coalition.web import Settings

PACKAGE = "departures.coalition.web"
HERE = Path(web_package.__file__).parent
MODULES = sorted(path.stem for path in HERE.glob("*.py") if path.stem != "__init__")


def _imported_modules(module: str) -> set[str]:
    """The package's modules that ``module`` imports, wherever the import statement is."""
    tree = ast.parse((HERE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:
                # "from departures.coalition.web import board": a module, or the package itself.
                for alias in node.names:
                    found.add(alias.name if alias.name in MODULES else "__init__")
            elif node.module.startswith(PACKAGE + "."):
                found.add(node.module.removeprefix(PACKAGE + ".").split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name.removeprefix(PACKAGE + ".").split(".")[0])
                elif alias.name == PACKAGE:
                    found.add("__init__")
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, or None (depth-first search with colours)."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_web_package_has_no_import_cycle() -> None:
    graph = {module: _imported_modules(module) for module in MODULES}
    assert "__init__" not in set().union(*graph.values()), "a view imports the package itself"
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"
    # The views sit on top: nothing below them imports one.
    views = {"board", "coordinator", "member", "directory"}
    for module in MODULES:
        if module != "app":
            assert not graph[module] & views - {module}, (module, graph[module])


def test_the_old_web_modules_are_gone() -> None:
    coalition = HERE.parent
    assert not (coalition / "web.py").exists()
    assert not (coalition / "directory_web.py").exists()


def test_each_module_imports_first_in_a_fresh_interpreter() -> None:
    # One fresh interpreter (the heavy libraries load once); before each module, every module
    # of the package is forgotten, so each is imported first, as a cycle would show.
    script = (
        "import importlib, sys\n"
        "package, *names = sys.argv[1:]\n"
        "for name in names:\n"
        "    for loaded in [m for m in sys.modules if m.startswith(package)]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    modules = [PACKAGE, *(f"{PACKAGE}.{m}" for m in MODULES)]
    done = subprocess.run(
        [sys.executable, "-c", script, PACKAGE, *modules],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_setting_has_a_default_and_a_help_text() -> None:
    described = Settings.described()
    assert [name for name, _default, _help in described] == [
        "base_url",
        "language",
        "forms_per_minute",
        "public_cache_seconds",
        "tick_seconds",
        "max_unverified_claims",
        "x_client_id",
        "x_client_secret",
        "x_authorize_url",
        "x_api_url",
    ]
    assert all(help_text.strip() for _name, _default, help_text in described)
    assert Settings(base_url="https://example.org/").base_url == "https://example.org"
    assert Settings(base_url="https://example.org").secure_cookies
    assert not Settings().secure_cookies
