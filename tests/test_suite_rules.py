"""Rules the suite keeps about itself (issue 19): a test cannot pass by being
skipped. The one way to skip is ``tests/services.unavailable()``: a service a
test needs (PostgreSQL, Redis, Chromium, root for network namespaces) is
missing on a laptop, and with CI=true it fails instead. Any other
``pytest.skip``, ``pytest.importorskip``, ``skipif``, ``xfail`` (or unittest's
skips) fails this test, read from the tests' source with ``ast``; a skip that
is genuinely right goes in ALLOWED with the reason."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# pytest.skip(), pytest.importorskip(), pytest.xfail(), pytest.mark.skip/skipif/xfail,
# unittest.skip/skipIf/skipUnless/expectedFailure and unittest.SkipTest.
SKIPPING = {
    "pytest": {"skip", "skipif", "xfail", "importorskip"},
    "unittest": {"skip", "skipIf", "skipUnless", "expectedFailure", "SkipTest"},
}

# (file under tests/, the function holding it): why a skip is right there.
ALLOWED = {
    ("services.py", "unavailable"): "the CI rule itself: a missing service skips on a laptop and fails under CI=true",
}


def skips_in(source: str) -> list[tuple[int, str, str]]:
    """Every way ``source`` skips or expects a failure: (line, enclosing function
    or "<module>", what), whatever name pytest or unittest was imported as."""
    tree = ast.parse(source)
    modules: dict[str, str] = {}  # local name -> "pytest" | "unittest"
    direct: dict[str, str] = {}  # a skipping function imported by name -> what
    found: list[tuple[int, str, str]] = []

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in SKIPPING:
                    modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module in SKIPPING:
            for alias in node.names:
                if node.module == "pytest" and alias.name == "mark":
                    modules[alias.asname or alias.name] = "pytest"  # mark.skipif
                elif alias.name in SKIPPING[node.module]:
                    direct[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    found.append((node.lineno, "<module>", f"from {node.module} import {alias.name}"))

    def root(node: ast.AST) -> str | None:
        """The module an attribute chain starts from (``pytest`` of ``pytest.mark.skipif``)."""
        while isinstance(node, ast.Attribute):
            node = node.value
        return modules.get(node.id) if isinstance(node, ast.Name) else None

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if isinstance(node, ast.Attribute) and (module := root(node)) and node.attr in SKIPPING[module]:
            found.append((node.lineno, function, f"{module}.{node.attr}"))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in direct:
            found.append((node.lineno, function, direct[node.id]))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "<module>")
    return sorted(found)


def suite_skips() -> dict[tuple[str, str], list[str]]:
    """(file, function) -> what skips there, over every Python file under tests/."""
    where: dict[tuple[str, str], list[str]] = {}
    for path in sorted(TESTS.rglob("*.py")):
        for line, function, what in skips_in(path.read_text(encoding="utf-8")):
            where.setdefault((path.relative_to(TESTS).as_posix(), function), []).append(f"line {line}: {what}")
    return where


def test_nothing_skips_but_a_missing_service():
    found = suite_skips()
    unexplained = {place: what for place, what in found.items() if place not in ALLOWED}
    assert unexplained == {}, "a test must not skip: let it fail, or skip through tests/services.unavailable() for a missing service"
    # The allow-list holds nothing stale: each entry is still where it says.
    assert set(ALLOWED) <= set(found), set(ALLOWED) - set(found)


@pytest.mark.parametrize(
    "source",
    [
        "import pytest\ndef test_x():\n    pytest.skip('not yet')\n",
        "import pytest\n@pytest.mark.skipif(True, reason='x')\ndef test_x():\n    pass\n",
        "import pytest\n@pytest.mark.skip\ndef test_x():\n    pass\n",
        "import pytest\n@pytest.mark.xfail\ndef test_x():\n    pass\n",
        "import pytest\ndef test_x():\n    pytest.xfail('later')\n",
        "import pytest\nyaml = pytest.importorskip('yaml')\n",
        "import pytest\npytestmark = pytest.mark.skipif(True, reason='x')\n",
        "import pytest\n@pytest.mark.parametrize('n', [pytest.param(1, marks=pytest.mark.xfail)])\ndef test_x(n):\n    pass\n",
        "import pytest\ndef test_x(request):\n    request.applymarker(pytest.mark.skip(reason='x'))\n",
        "import pytest as pt\ndef test_x():\n    pt.skip('aliased')\n",
        "from pytest import skip\ndef test_x():\n    skip('imported by name')\n",
        "from pytest import mark\n@mark.skipif(True, reason='x')\ndef test_x():\n    pass\n",
        "import unittest\n@unittest.skip('x')\ndef test_x():\n    pass\n",
        "import unittest\ndef test_x():\n    raise unittest.SkipTest('x')\n",
    ],
)
def test_the_rule_sees_each_way_to_skip(source):
    assert skips_in(source), source


def test_the_rule_lets_other_uses_of_the_words_be():
    source = (
        "import pytest\n"
        "def test_x(tmp_path):\n"
        "    skip = 1  # a local name\n"
        "    rows = [r for r in range(3) if r != skip]\n"
        "    assert 'pytest.skip' not in str(rows)\n"
        "    pytest.fail('a failure, not a skip')\n"
    )
    assert skips_in(source) == []
