"""The shape of the package: every module's imports, read from its source (imports inside
functions count too: they only hide a dependency, they do not remove it). No two modules
may depend on each other, however long the way round, and no module may reach into another
module's private (underscore) names."""

import ast
from pathlib import Path

import whistle

PACKAGE = Path(whistle.__file__).parent
# Alembic's scripts are loaded by path, one at a time, and never imported by name.
SKIPPED = ("migrations",)


def _module_name(path: Path) -> str:
    parts = ("whistle",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {
        _module_name(path): ast.parse(path.read_text(encoding="utf-8"), str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
        if not set(SKIPPED) & set(path.parts)
    }


MODULES = _modules()


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer.split(".")
    if not (PACKAGE.joinpath(*package[1:]) / "__init__.py").exists():  # a module: its package
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(name: str) -> list[tuple[str, str | None, int]]:
    """(module imported, name taken from it or None, line) for every import in ``name``;
    ``from package import module`` is an import of that module."""
    found = []
    for node in ast.walk(MODULES[name]):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(name, node)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.append(
                    (submodule, None, node.lineno) if submodule in MODULES else (source, alias.name, node.lineno)
                )
    return [(module, taken, line) for module, taken, line in found if module in MODULES]


def graph() -> dict[str, set[str]]:
    return {name: {module for module, _, _ in imports(name) if module != name} for name in MODULES}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_scan_sees_the_package():
    assert {"whistle", "whistle.cases.store", "whistle.custody.audit", "whistle.cli"} <= set(MODULES)
    assert "whistle.custody.audit" in graph()["whistle.custody.retention"]  # from whistle.custody import audit
    assert ("whistle.models", "Case", 1) in [(m, t, 1) for m, t, _ in imports("whistle.custody.retention")]


def test_a_cycle_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(graph()) == []


def _private_uses(name: str) -> list[str]:
    tree = MODULES[name]
    found = [
        f"{name}:{line} imports {module}.{taken}"
        for module, taken, line in imports(name)
        if taken is not None and taken.startswith("_") and not taken.startswith("__") and module != name
    ]
    # A module imported under a local name, then reached into: module._private.
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(name, node)
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in MODULES:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{name}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return found


def test_a_private_use_is_found():
    assert _private_uses("whistle.committee.access") == []
    MODULES["whistle.probe"] = ast.parse(
        "from whistle.cases import store\nfrom whistle.web import _where\nstore._lock_case(None, '')\n"
    )
    try:
        assert _private_uses("whistle.probe") == [
            "whistle.probe:2 imports whistle.web._where",
            "whistle.probe:3 uses whistle.cases.store._lock_case",
        ]
    finally:
        del MODULES["whistle.probe"]


def test_no_module_takes_another_ones_private_names():
    assert [use for name in sorted(MODULES) for use in _private_uses(name)] == []
