"""The ``bimbing`` command line, run as a real program: create the schema, add
a staff member with the password on standard input, sign in with it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from server.app import create_app
from server.db.models import Role, Staff
from tests.foundation import database

BIMBING = Path(sys.executable).with_name("bimbing")


def bimbing(*args: str, env: dict[str, str], stdin: str | None = "", timeout: float = 60) -> subprocess.CompletedProcess:
    command = [str(BIMBING)] if BIMBING.exists() else [sys.executable, "-m", "server"]
    return subprocess.run(
        command + list(args),
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIMBING_")}
    env.update(BIMBING_DATABASE_URL=database_url, BIMBING_DATA_DIR=str(tmp_path / "cli-data"))
    return env


def test_db_upgrade_creates_the_schema_in_an_empty_sqlite_file(tmp_path):
    path = tmp_path / "fresh.db"
    result = bimbing("db", "upgrade", env=cli_env(f"sqlite:///{path}", tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Schema is at head" in result.stdout
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("select name from sqlite_master where type='table'")}
    assert {"office", "staff", "client", "guidance_session", "session_event", "audit_entry", "alembic_version"} <= tables


async def test_a_user_added_on_the_command_line_can_sign_in(database_url, tmp_path, aiohttp_client, settings):
    env = cli_env(database_url, tmp_path)
    assert bimbing("db", "upgrade", env=env).returncode == 0
    result = bimbing("user", "add", "--username", "u", "--role", "pk", "--name", "X", env=env, stdin="rahasia panjang sekali\n")
    assert result.returncode == 0, result.stderr
    assert "Added pk u" in result.stdout

    async with database(database_url) as db:
        staff = (await db.execute(select(Staff).where(Staff.username == "u"))).scalar_one()
    assert (staff.name, staff.role) == ("X", Role.pk)
    assert staff.password_hash.startswith("$argon2id$")

    http = await aiohttp_client(create_app(settings))
    resp = await http.post("/api/login", json={"username": "u", "password": "rahasia panjang sekali"})
    assert resp.status == 200
    me = await (await http.get("/api/me")).json()
    assert (me["username"], me["name"], me["role"]) == ("u", "X", "pk")


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["--username", "u", "--role", "pk"], "pendek\n", "at least 8 characters"),
        (["--username", "u", "--role", "pk"], "", "at least 8 characters"),
        (["--username", "u", "--role", "pk", "--password", "rahasia panjang sekali"], "", "No such option '--password'"),
        (["--username", "u", "--role", "pk", "rahasia panjang sekali"], "", "unexpected extra argument"),
        (["--username", "u", "--role", "god"], "rahasia panjang sekali\n", "'god' is not one of"),
        (["--role", "pk"], "rahasia panjang sekali\n", "Missing option '--username'"),
    ],
    ids=["too short", "nothing on stdin", "--password flag", "password as an argument", "unknown role", "no username"],
)
async def test_user_add_refuses(database_url, tmp_path, args, stdin, message):
    env = cli_env(database_url, tmp_path)
    result = bimbing("user", "add", *args, env=env, stdin=stdin)
    assert result.returncode != 0
    assert message in result.stderr
    async with database(database_url) as db:
        assert (await db.execute(select(Staff).where(Staff.username == "u"))).scalar_one_or_none() is None


async def test_user_add_refuses_a_taken_username(database_url, tmp_path):
    env = cli_env(database_url, tmp_path)
    assert bimbing("user", "add", "--username", "u", "--role", "admin", env=env, stdin="rahasia panjang sekali\n").returncode == 0
    again = bimbing("user", "add", "--username", "u", "--role", "pk", env=env, stdin="lain lagi panjang\n")
    assert again.returncode != 0
    assert "taken" in again.stderr


def test_production_refuses_to_start_without_a_secret(tmp_path):
    env = cli_env(f"sqlite:///{tmp_path / 'p.db'}", tmp_path)
    env["BIMBING_ENV"] = "production"
    result = bimbing("db", "upgrade", env=env)
    assert result.returncode != 0
    assert "BIMBING_SECRET_KEY is required in production" in result.stderr


def test_user_add_before_db_upgrade_says_what_to_do(tmp_path):
    env = cli_env(f"sqlite:///{tmp_path / 'never-migrated.db'}", tmp_path)
    result = bimbing("user", "add", "--username", "u", "--role", "pk", env=env, stdin="rahasia panjang sekali\n")
    assert result.returncode != 0
    assert "bimbing db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_to_start_without_the_public_url(tmp_path):
    """Issue #12: without it join links were built from the Host header (Host: evil.example)."""
    env = cli_env(f"sqlite:///{tmp_path / 'p.db'}", tmp_path)
    env.update(BIMBING_ENV="production", BIMBING_SECRET_KEY="s" * 48, BIMBING_RECORDING_KEY="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    env.pop("BIMBING_PUBLIC_URL", None)
    result = bimbing("db", "upgrade", env=env)
    assert result.returncode != 0
    assert "BIMBING_PUBLIC_URL is required in production" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_sqlite_database_is_created_readable_by_its_owner_only(tmp_path):
    """Issue #12: it was created 0644 while the secrets beside it are 0600."""
    db = tmp_path / "data" / "bimbing.db"
    env = cli_env(f"sqlite:///{db}", tmp_path)
    assert bimbing("db", "upgrade", env=env).returncode == 0
    assert db.stat().st_mode & 0o777 == 0o600
