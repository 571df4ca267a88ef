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
