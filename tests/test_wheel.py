"""``pip install .`` (a wheel, not editable) is a whole Bimbing: the wheel holds
every file of ``server/`` and the browser code, and a ``bimbing serve`` installed
from it, run far from the checkout, serves the join page with its scripts and
styles.

The wheel is built from a copy of the sources in a temporary folder, so a stale
``build/`` in the checkout cannot add files the sources no longer have, and
installed with ``--no-deps`` into a fresh virtual environment outside the
checkout. Its dependencies come from this test environment's site-packages,
named in a ``.pth`` file: the run stays offline and quick, and because folders
named in a ``.pth`` file do not have their own ``.pth`` files run, the editable
install of the checkout living there is not switched on. The test asserts that
``server`` is imported from the new environment all the same.
"""

from __future__ import annotations

import html.parser
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.request
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.services import wait_healthy_process, wait_port_file

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
WEBCLIENT = REPO / "webclient"
# What the build reads; anything else in the checkout (tests, docs, .venv) stays out.
BUILD_INPUTS = ["pyproject.toml", "setup.py", "README.md", "server", "webclient"]

PK = ("pk.wheel", "kata sandi roda yang panjang")


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, source / name)
    out = tmp_path_factory.mktemp("dist")
    # No build isolation: the test extra installs setuptools and wheel, so no index is needed.
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--disable-pip-version-check", "-q", source, "-w", out)
    (built,) = out.glob("bimbing-*.whl")
    return built


def _checkout_files() -> dict[str, Path]:
    """Every file the wheel must hold, by its name in the wheel."""
    files: dict[str, Path] = {}
    for path in (REPO / "server").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[path.relative_to(REPO).as_posix()] = path
    for path in WEBCLIENT.rglob("*"):
        if path.is_file():
            files["server/webclient/" + path.relative_to(WEBCLIENT).as_posix()] = path
    return files


def test_the_wheel_holds_every_file_of_the_server_and_the_browser_code(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        expected = _checkout_files()
        assert sorted(set(expected) - names) == [], "files missing from the wheel"
        # The copies are the files themselves, not empty placeholders.
        for name in ("server/webclient/join.js", "server/webclient/notify.wav", "server/web/templates/call/join.html"):
            assert archive.read(name) == expected[name].read_bytes()
    # Nothing from outside the package (tests, docs, the top-level webclient/ itself).
    assert {n.split("/", 1)[0] for n in names if not n.endswith(".dist-info/" + n.rsplit("/", 1)[-1])} == {"server"}


class _Assets(html.parser.HTMLParser):
    """The stylesheets and scripts a page loads."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.urls.append(attrs["href"])
        elif tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])


# How long one request may take: the server from the wheel signs in at production's
# Argon2 costs (64 MiB, 3 passes) in password workers it starts on the first sign-in,
# and a loaded CI machine (load 14 on two cores) took more than 10 s for that.
REQUEST_TIMEOUT = 60


def _json(opener, url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    try:
        with opener.open(request, timeout=REQUEST_TIMEOUT) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        pytest.fail(f"POST {url} answered {exc.code}: {exc.read().decode()}")


def _get(opener, url: str) -> tuple[int, str, bytes]:
    with opener.open(url, timeout=REQUEST_TIMEOUT) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


def test_bimbing_serve_from_the_wheel_serves_the_join_page_with_its_scripts_and_styles(wheel, tmp_path):
    # A fresh environment, and a working folder, both outside the checkout.
    venv = tmp_path / "venv"
    work = tmp_path / "office"
    work.mkdir()
    assert REPO not in tmp_path.parents
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "zz_bimbing_test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--disable-pip-version-check", "-q", wheel)

    env = {k: v for k, v in os.environ.items() if not k.startswith("BIMBING_") and k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(
        BIMBING_DATABASE_URL=f"sqlite+aiosqlite:///{work / 'bimbing.db'}",
        BIMBING_DATA_DIR=str(work / "data"),
        BIMBING_RECORDINGS_DIR=str(work / "recordings"),
        BIMBING_SECRET_KEY=secrets.token_urlsafe(48),
    )
    where = _run(python, "-c", "import server, server.static_files as s; print(server.__file__); print(s.webclient_dir())", cwd=work, env=env).stdout.split()
    assert [Path(p).is_relative_to(venv) for p in where] == [True, True], where

    bimbing = venv / "bin" / "bimbing"
    _run(bimbing, "db", "upgrade", cwd=work, env=env)
    _run(bimbing, "user", "add", "--username", PK[0], "--role", "pk", input=PK[1] + "\n", cwd=work, env=env)
    log, port_file = work / "serve.log", work / "serve.port"
    with open(log, "w") as out:
        proc = subprocess.Popen([bimbing, "serve", "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file)], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{wait_port_file(port_file, proc, log)}"
        wait_healthy_process(base, proc, log)

        # The PK schedules a video session for a new client...
        officer = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        _json(officer, base + "/api/login", {"username": PK[0], "password": PK[1]})
        today = date.today()
        client = _json(officer, base + "/api/clients", {
            "name": "Klien Roda", "register_number": "REG-WHEEL-1", "program": "PB",
            "supervision_start": (today - timedelta(days=30)).isoformat(),
            "supervision_end": (today + timedelta(days=300)).isoformat(),
            "reporting_interval_days": 14, "kelurahan": "Cakung Barat",
        })
        session = _json(officer, base + "/api/sessions", {"client_id": client["id"], "mode": "video"})

        # ...and the client's phone opens the link and lands on the join page.
        phone = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        join_url = base + "/" + session["client_join_url"].split("/", 3)[3]
        with phone.open(join_url, timeout=REQUEST_TIMEOUT) as resp:
            assert (resp.status, resp.url) == (200, base + "/join")
            page = resp.read().decode()
        assets = _Assets()
        assets.feed(page)
        # The styles are inline (issue 25), the scripts at one versioned folder of lean code.
        assert "<style>" in page and ".call-page" in page
        folders = {url.rsplit("/", 1)[0] for url in assets.urls}
        assert len(folders) == 1 and re.fullmatch(r"/static/v/[0-9a-f]+", folders.pop()), assets.urls
        folder = assets.urls[0].rsplit("/", 1)[0]
        names = {url.rsplit("/", 1)[1] for url in assets.urls}
        assert {"join.js"} <= names, assets.urls

        # Each one as the browser asks for it, and the modules the scripts import.
        fetched: dict[str, tuple[int, str, bytes]] = {url.rsplit("/", 1)[1]: _get(phone, base + url) for url in assets.urls}
        # Static imports and the deferred ones (``import("./call.js")``), to the last module.
        pending = [n for n in fetched if n.endswith(".js")]
        while pending:
            script = pending.pop()
            for imported in re.findall(r"""(?:from\s+|import\()["']\./([\w.-]+\.js)["']""", fetched[script][2].decode()):
                if imported not in fetched:
                    fetched[imported] = _get(phone, f"{base}{folder}/{imported}")
                    pending.append(imported)
        assert {"call.js", "ui.js", "kendala.js", "keepcode.js"} <= set(fetched)
        from server.web.callcode import CallCode

        lean = CallCode(WEBCLIENT).files
        for name, (status, content_type, body) in fetched.items():
            assert status == 200 and "javascript" in content_type, (name, status, content_type)
            assert body and body == lean[name].body, name
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
