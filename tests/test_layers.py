"""The layers of server/ point one way: the domain and what it stands on know
nothing of HTTP or of the signaling transport.

Each module is read with ``ast`` (no import is executed), so an arrow hidden
inside a function or under ``TYPE_CHECKING`` counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parent.parent / "server"

# Lower layers, and the packages they must never import.
LOWER = ("domain", "security", "audit", "db", "media")
FORBIDDEN = ("server.web", "server.signaling")
# Security owns the HTTP defences (middlewares, cookies), so it may speak aiohttp;
# the domain, the audit trail, the database and the media path may not.
HTTP_FREE = ("domain", "audit", "db", "media")


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _modules(layer: str) -> list[Path]:
    return sorted((SERVER / layer).rglob("*.py"))


def _arrows(layers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    arrows = []
    for layer in layers:
        for path in _modules(layer):
            for line, name in imports_of(path):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    arrows.append(f"{path.relative_to(SERVER.parent)}:{line} imports {name}")
    return sorted(set(arrows))


def test_the_lower_layers_import_neither_web_nor_signaling():
    assert _arrows(LOWER, FORBIDDEN) == []


def test_the_domain_audit_db_and_media_know_nothing_of_aiohttp():
    assert _arrows(HTTP_FREE, ("aiohttp",)) == []


@pytest.mark.parametrize("layer", LOWER)
def test_each_lower_layer_has_modules_to_check(layer):
    # Guards the walk itself: a moved folder must not make the rule pass vacuously.
    assert _modules(layer), f"server/{layer} has no modules"


def test_the_walk_sees_imports_inside_functions_and_type_checking(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from server.web.errors import STATUS\n"
        "def f():\n    import server.signaling.ws\n"
    )
    names = [name for _line, name in imports_of(sample)]
    assert "server.web.errors.STATUS" in names and "server.signaling.ws" in names


def test_web_is_split_into_api_and_pages_with_templates_grouped_alike():
    web = SERVER / "web"
    flat = sorted(p.name for p in web.glob("*.py") if p.name.startswith(("api_", "pages_")) or p.name.endswith("_pages.py"))
    assert flat == [], "JSON routes live in web/api/<resource>.py, pages in web/pages/<area>.py"
    loose = sorted(p.name for p in (web / "templates").glob("*.html") if p.name != "base.html")
    assert loose == [], "templates live in a folder named for their area, beside base.html"


# --- one way only, and rooms a newcomer can walk -----------------------------------

DOMAIN = SERVER / "domain"
MAX_MODULES_PER_FOLDER = 20
MAX_LINES_PER_MODULE = 600


def _module_name(path: Path) -> str:
    parts = path.relative_to(SERVER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of server/ and the modules of server/ it imports (anywhere in
    it: a lazy import inside a function ties two modules as much as one at the
    top). ``from package import name`` points at the module ``package.name`` when
    there is one, else at the package."""
    paths = {_module_name(p): p for p in SERVER.rglob("*.py") if "migrations" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name in paths}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module in paths:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in paths else node.module)
        graph[name] = targets - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_of_server_imports_itself_round_a_circle():
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_a_circle_through_a_lazy_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_domain_is_grouped_by_concept_in_small_folders_and_modules():
    folders = [DOMAIN] + sorted(p for p in DOMAIN.iterdir() if p.is_dir() and p.name != "__pycache__")
    crowded = {str(f.relative_to(SERVER.parent)): n for f in folders if (n := len([m for m in f.glob("*.py") if m.name != "__init__.py"])) > MAX_MODULES_PER_FOLDER}
    assert crowded == {}, f"a folder of the domain holds more than {MAX_MODULES_PER_FOLDER} modules"
    long = {str(p.relative_to(SERVER.parent)): n for p in SERVER.rglob("*.py") if "migrations" not in p.parts and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES_PER_MODULE}
    assert long == {}, f"a module of server/ is over {MAX_LINES_PER_MODULE} lines"
    loose = sorted(p.name for p in DOMAIN.glob("*.py") if p.name not in ("__init__.py", "errors.py", "access.py"))
    assert loose == [], "a domain module lives in the folder of its concept (record, calls, fieldwork, outreach, documents, office)"
