"""The house stays standing: every module's imports are read with ``ast`` (top-level ones,
those inside functions and those under ``TYPE_CHECKING`` alike) and the layering promised in
README.md's "Architecture" section is checked: no import circle among the modules of
``t4/``, ``t4flows/``, ``flows/`` or ``bench/``; no module over 400 lines; Prefect only
above the core; the catalog app (``t4/catalog/``) imported by nothing in the core but the
``t4`` command.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("t4", "t4flows", "flows", "bench")
MAX_LINES = 400
#: README.md's "Architecture" table, top to bottom: a module imports only from its own row
#: or the rows below it.
LAYERS = (
    ("deployments", "flows"),
    ("t4flows",),
    ("t4.cli", "t4.catalog"),
    ("t4.packages",),
    ("t4.bucket", "t4.browsing", "t4.files", "t4.bulk", "t4.reader"),
    ("t4.search",),
    ("t4.plans",),
    ("t4.transfer", "t4.engine"),
    ("t4.backends",),
    ("t4.parts",),
    ("t4.locations", "t4.formats", "t4.codecs", "t4.meta", "t4.keys", "t4.walk"),
    ("t4.state", "t4.config"),
    ("t4.errors", "t4.surface", "t4.waits"),
)


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    found: dict[str, Path] = {}
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_names(name: str, path: Path) -> Iterator[str]:
    """Every dotted name ``name``'s file imports, wherever the import statement sits
    (``from a import b`` gives ``a.b``: the module ``a.b`` if there is one, else ``a``)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                base = ".".join([*here, base] if base else here)
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(files: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a name resolves to its deepest module)."""
    files = module_files() if files is None else files
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = set()
        for imported in imported_names(name, path):
            parts = imported.split(".")
            while parts and ".".join(parts) not in files:
                parts.pop()
            if parts and ".".join(parts) != name:
                targets.add(".".join(parts))
        graph[name] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    """Among the modules of t4/ and t4flows/ (and flows/, bench/): every import points down."""
    assert circles(import_graph()) == []


def layer_of(module: str) -> int | None:
    """The row of ``LAYERS`` that holds ``module`` (None: not in the table)."""
    for row, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return row
    return None


def test_every_import_points_down() -> None:
    graph = import_graph()
    up = sorted(
        (name, target)
        for name, targets in graph.items()
        if (row := layer_of(name)) is not None
        for target in targets
        if (below := layer_of(target)) is not None and below < row
    )
    assert up == []


def test_every_core_module_has_a_layer() -> None:
    """A new module of t4/ finds its row in the table (and README.md's) before it lands."""
    unplaced = [n for n in module_files() if n.startswith("t4.") and layer_of(n) is None]
    assert unplaced == []


def test_no_module_over_400_lines() -> None:
    long = {
        name: n
        for name, path in module_files().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_core_never_imports_prefect() -> None:
    files = module_files()
    offenders = {
        name: sorted(i for i in imported_names(name, path) if i.split(".")[0] == "prefect")
        for name, path in files.items()
        if name.split(".")[0] == "t4"
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_only_the_cli_imports_the_catalog() -> None:
    graph = import_graph()
    offenders = {
        name: sorted(t for t in targets if t == "t4.catalog" or t.startswith("t4.catalog."))
        for name, targets in graph.items()
        if name.split(".")[0] == "t4"
        and not name.startswith(("t4.catalog", "t4.cli"))
        and name != "t4.catalog"
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_checker_sees_a_circle_and_an_import_inside_a_function(tmp_path: Path) -> None:
    """The checker itself: a circle held by an import inside a function is still a circle."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n"
        "def thing():\n    pass\n"
    )
    (package / "c.py").write_text("def f():\n    from .a import x\n")
    files = {name: package / f"{name}.py" for name in ("a", "b", "c")}
    graph = import_graph({f"pkg.{name}": path for name, path in files.items()})
    assert graph == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert circles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
