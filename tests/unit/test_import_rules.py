"""The package rules of ``src/departures``, read from the source (no import, no server).

* the Bluesky edge (``bluesky/``) imports nothing of the domain: only itself and the errors;
* production code does not import the sandbox, except what drives it on purpose (the demo
  and the ``departures sandbox`` command);
* nobody outside ``bluesky/`` calls a repository write XRPC (``applyWrites``,
  ``createRecord``, ``putRecord``, ``deleteRecord``, ``uploadBlob``), in any spelling: the
  NSID in a string, the SDK's method, or the edge's own ``apply_writes``;
* ``audience/`` and ``coalition/`` take record keys, journals and budgets from ``bluesky/``
  (or the workspace), not from ``migrate/`` or ``audience/``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "departures"

#: Modules that drive the sandbox on purpose.
SANDBOX_DRIVERS = {"demo.py", "demo_coalition.py", "commands/sandbox.py", "desk/rehearsal.py"}
WRITE_NSIDS = ("applyWrites", "createRecord", "putRecord", "deleteRecord", "uploadBlob")
#: The SDK's (and the edge's) Python names of the same calls, and raw procedure calls.
WRITE_CALLS = {
    "apply_writes",
    "create_record",
    "put_record",
    "delete_record",
    "invoke_procedure",
}


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        if "node" in path.relative_to(SRC).parts:
            continue
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def imported(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every module a file imports, at any depth (lazy imports in functions included)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # ``from departures import sandbox``
                yield node.lineno, f"{node.module}.{alias.name}"


def docstrings(tree: ast.Module) -> set[int]:
    """ids of the string constants that are docstrings (they may name what they like)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def write_calls(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Where a file names a repository write: an NSID in a string, or a write method."""
    skip = docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            for nsid in WRITE_NSIDS:
                if f"com.atproto.repo.{nsid}" in node.value:
                    yield node.lineno, node.value
        elif isinstance(node, ast.Attribute) and node.attr in WRITE_CALLS:
            yield node.lineno, node.attr
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "upload_blob"
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "repo"
        ):
            # The SDK's ``client.com.atproto.repo.upload_blob``; ``pds.upload_blob`` is the edge.
            yield node.lineno, "repo.upload_blob"


def violations(rule: str) -> list[str]:
    found: list[str] = []
    for name, tree in modules():
        package = name.split("/", 1)[0] if "/" in name else ""
        if rule == "edge":
            if package != "bluesky":
                continue
            for line, target in imported(tree):
                allowed = target.startswith(("departures.bluesky", "departures.errors"))
                if target.startswith("departures") and not allowed:
                    found.append(f"{name}:{line} imports {target}")
        elif rule == "sandbox":
            if package == "sandbox" or name in SANDBOX_DRIVERS:
                continue
            for line, target in imported(tree):
                if target == "departures.sandbox" or target.startswith("departures.sandbox."):
                    found.append(f"{name}:{line} imports {target}")
        elif rule == "writes":
            if package == "bluesky":
                continue
            found.extend(f"{name}:{line} calls {what!r}" for line, what in write_calls(tree))
        elif rule == "domain":
            banned = {
                "audience": ("departures.migrate",),
                "coalition": ("departures.audience", "departures.migrate.rkeys"),
            }.get(package, ())
            for line, target in imported(tree):
                if target.startswith(banned):
                    found.append(f"{name}:{line} imports {target}")
    return found


@pytest.mark.parametrize("rule", ["edge", "sandbox", "writes", "domain"])
def test_the_package_rules_hold(rule: str) -> None:
    assert violations(rule) == []


def test_the_rules_see_a_violation_when_there_is_one(tmp_path: Path) -> None:
    # The scanners themselves: each finds what it looks for in a file made to break it.
    source = '''
"""Docstrings may say com.atproto.repo.applyWrites."""
from departures.migrate.media import MediaLimits

def f(client, pds):
    from departures.sandbox.network import known_networks
    client.com.atproto.repo.create_record({})
    client.com.atproto.repo.upload_blob(b"")
    pds.apply_writes([])
    return "com.atproto.repo.putRecord"
'''
    tree = ast.parse(source)
    targets = {target for _line, target in imported(tree)}
    assert {"departures.migrate.media", "departures.sandbox.network"} <= targets
    calls = [what for _line, what in write_calls(tree)]
    assert calls.count("com.atproto.repo.putRecord") == 1
    assert {"create_record", "repo.upload_blob", "apply_writes"} <= set(calls)
    assert not any("applyWrites" in what for what in calls)  # the docstring is not a call
