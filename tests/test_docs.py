"""The documentation is the contract: a test fails when a route or a setting
is added without being documented."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from server.app import create_app
from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def documented_text() -> str:
    return "\n".join((DOCS / name).read_text(encoding="utf-8") for name in ("api.md", "signaling.md") if (DOCS / name).exists())


def app_routes() -> list[str]:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", secret_key=secrets.token_urlsafe(48)))
    found = set()
    for route in app.router.routes():
        if route.method == "HEAD":  # aiohttp adds HEAD beside every GET
            continue
        info = route.resource.get_info() if route.resource else {}
        if "prefix" in info:  # the /static/ folder
            continue
        path = info.get("path") or info.get("formatter")
        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"] if route.method == "*" else [route.method]
        found.update(f"{m} {path}" for m in methods)
    return sorted(found)


def settings_env_names() -> list[str]:
    source = (ROOT / "server" / "settings.py").read_text(encoding="utf-8")
    return sorted(set(re.findall(r"""\bget(?:_int|_list|_bool)?\(\s*"([A-Z][A-Z0-9_]*)\"""", source)))


def test_the_scans_find_something():
    assert "GET /healthz" in app_routes() and "POST /api/login" in app_routes()
    assert {"DATABASE_URL", "SECRET_KEY", "TRUST_PROXY"} <= set(settings_env_names())


@pytest.mark.parametrize("route", app_routes())
def test_every_route_is_documented(route):
    text = documented_text()
    # "GET /api/clients/{id}" written as such, in a heading, a table or an example.
    assert re.search(re.escape(route) + r"(?![\w/{])", text), f"{route} is not in docs/api.md or docs/signaling.md"


@pytest.mark.parametrize("name", settings_env_names())
def test_every_setting_is_documented(name):
    text = (DOCS / "deploy.md").read_text(encoding="utf-8")
    assert f"BIMBING_{name}" in text, f"BIMBING_{name} is read in server/settings.py but not in docs/deploy.md"


@pytest.mark.parametrize(
    "command",
    ["bimbing serve --host", "bimbing db upgrade", "bimbing user add --username", "bimbing demo", "bimbing audit verify"],
)
def test_the_cli_contract_is_documented(command):
    assert command in (DOCS / "api.md").read_text(encoding="utf-8")


def test_the_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_glossary_is_linked_and_its_links_and_calls_exist():
    glossary = (DOCS / "glossary.md").read_text(encoding="utf-8")
    assert "(docs/glossary.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(glossary.md)" in (DOCS / "api.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([\w.]+\.md)(?:#([\w-]+))?\)", glossary)
    assert links
    for name, anchor in links:
        target = DOCS / name
        assert target.exists(), name
        if anchor:
            headings = {github_anchor(h) for h in re.findall(r"^#+ (.+)$", target.read_text(encoding="utf-8"), re.MULTILINE)}
            assert anchor in headings, f"{name}#{anchor}"
    # Every call and page the glossary names exists, and so does each part of a page it points to (#id), so a
    # renamed call or section cannot leave the glossary behind.
    routes = {r.split(" ", 1)[1] for r in app_routes()}
    templates = "\n".join(f.read_text(encoding="utf-8") for f in (ROOT / "server" / "web" / "templates").rglob("*.html"))
    named = re.findall(r"`(?:[A-Z/]+ )?(/(?:api|v|klien|lapangan|clients|tpp-sittings|partners|referral-reports|caseload|reminders|evaluation|sessions)[^`?\s]*)", glossary)
    assert len(named) > 20
    for named_path in named:
        path, _, fragment = named_path.partition("#")
        assert path in routes, named_path
        assert not fragment or f'id="{fragment}"' in templates, named_path
    for fragment in re.findall(r"`#([\w-]+)`", glossary):
        assert f'id="{fragment}"' in templates, fragment
