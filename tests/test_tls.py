"""A phone on the office network needs HTTPS before the browser will open its
camera, so `bimbing serve --tls` makes and keeps a self-signed certificate, and
`--cert/--key` serve a given one. Each runs here as a real process."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import secrets
import signal
import ssl
import sys
from pathlib import Path

import pytest
from cryptography import x509

from tests.conftest import sqlite_copy
from tests.services import STARTUP_TIMEOUT, await_port_file, wait_healthz

BIMBING = Path(sys.executable).with_name("bimbing")


@pytest.fixture
def env(tmp_path: Path, sqlite_template: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIMBING_")}
    env["BIMBING_DATA_DIR"] = str(tmp_path / "data")
    # A migrated database (test_cli.py tests `bimbing db upgrade` itself).
    env["BIMBING_DATABASE_URL"] = sqlite_copy(sqlite_template, tmp_path / "bimbing.db")
    env["BIMBING_SECRET_KEY"] = secrets.token_urlsafe(48)
    return env


async def run(env: dict[str, str], cwd: Path, *args: str) -> asyncio.subprocess.Process:
    command = [str(BIMBING)] if BIMBING.exists() else [sys.executable, "-m", "server"]
    return await asyncio.create_subprocess_exec(*command, *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


async def serve(env: dict[str, str], cwd: Path, *args: str) -> tuple[asyncio.subprocess.Process, int]:
    """``bimbing serve ARGS`` on a port the system picks, and that port once it listens."""
    port_file = cwd / "serve.port"
    port_file.unlink(missing_ok=True)
    proc = await run(env, cwd, "serve", *args, "--port", "0", "--port-file", str(port_file))
    try:
        return proc, await await_port_file(port_file, proc)
    except BaseException:
        await stop(proc)
        raise


async def healthz_over_https(port: int, cafile: Path, timeout: float = STARTUP_TIMEOUT) -> dict:
    """Poll until the server answers over TLS, trusting only ``cafile``."""
    answer = await wait_healthz(f"https://localhost:{port}", timeout, ssl_context=lambda: ssl.create_default_context(cafile=str(cafile)))
    return {"status": answer["status"], "hsts": answer["headers"].get("Strict-Transport-Security"), "body": answer["body"]}


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


async def test_serve_with_tls_makes_a_certificate_browsers_can_be_told_to_trust(env, tmp_path):
    proc, port = await serve(env, tmp_path, "--tls")
    try:
        cert_path = tmp_path / "data" / "tls-cert.pem"
        answer = await healthz_over_https(port, cert_path)
        assert answer["status"] == 200 and answer["body"]["database"] is True
        # Served over HTTPS, browsers are told to stay on HTTPS.
        assert answer["hsts"] and "max-age=" in answer["hsts"]
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in names.get_values_for_type(x509.DNSName)
        assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
        # The private key is readable by its owner only.
        assert (tmp_path / "data" / "tls-key.pem").stat().st_mode & 0o077 == 0
    finally:
        await stop(proc)

    # A second start keeps the same certificate, so phones need to accept it only once.
    first = cert_path.read_bytes()
    proc, port = await serve(env, tmp_path, "--tls")
    try:
        await healthz_over_https(port, cert_path)
        assert cert_path.read_bytes() == first
    finally:
        await stop(proc)


async def test_serve_uses_a_given_certificate_and_key(env, tmp_path):
    from server.security.tls import self_signed

    given_cert, given_key = self_signed(tmp_path / "given")
    proc, port = await serve(env, tmp_path, "--cert", str(given_cert), "--key", str(given_key))
    try:
        answer = await healthz_over_https(port, given_cert)
        assert answer["status"] == 200
        # Nothing was generated in the data folder when a certificate was given.
        assert not (tmp_path / "data" / "tls-cert.pem").exists()
    finally:
        await stop(proc)


async def test_cert_without_key_is_refused_with_a_clear_message(env, tmp_path):
    from server.security.tls import self_signed

    given_cert, _ = self_signed(tmp_path / "given")
    proc = await run(env, tmp_path, "serve", "--cert", str(given_cert), "--port", "0")
    output = (await asyncio.wait_for(proc.communicate(), 60))[0].decode()
    assert proc.returncode != 0
    assert "--cert needs --key" in output
    assert "Traceback" not in output
