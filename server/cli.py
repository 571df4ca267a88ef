"""The ``bimbing`` command line (names are a contract: see docs/api.md)."""

from __future__ import annotations

import asyncio
import getpass
import logging
import socket
import sys
from pathlib import Path

import click

from server.ops.collector import keep_survivors_frozen
from server.settings import ConfigError, Settings


def _settings(demo: bool = False) -> Settings:
    from server.ops.logs import configure

    try:
        settings = Settings.from_env(demo=demo)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    configure(settings.log_format, logging.getLogger().level)
    return settings


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Bimbing: video-call guidance for probation offices."""
    from server.ops.logs import configure

    # Text until a command has read its settings (_settings picks the format then).
    configure("text", logging.DEBUG if verbose else logging.INFO)


def _tls_context(settings: Settings, tls: bool, cert: str | None, key: str | None):
    if not (tls or cert):
        return None
    from server.security.tls import self_signed, ssl_context

    if cert:
        if not key:
            raise click.ClickException("--cert needs --key")
        return ssl_context(Path(cert), Path(key))
    cert_path, key_path = self_signed(settings.data_dir)
    click.echo(f"Using a self-signed certificate ({cert_path}); browsers will ask you to accept it once.")
    return ssl_context(cert_path, key_path)


def _listening_socket(host: str) -> socket.socket:
    """A socket listening on ``host`` at a port the system picks (``--port 0``).

    Bound here, before serving, so that the port is known to the banner and to
    ``--port-file``: whoever starts the server learns the port it really got,
    instead of guessing a free one that another process may take first."""
    family, _type, _proto, _name, address = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    return socket.create_server(address[:2], family=family, backlog=128)


def _write_port_file(path: Path, port: int) -> None:
    # Written whole, then renamed: a reader polling for the file never sees it half written.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(f"{port}\n")
    partial.replace(path)


def _run(settings: Settings, host: str, port: int, ssl_ctx, banner=None, port_file: Path | None = None) -> None:
    # The web stack is imported by the commands that serve, not by every command.
    from aiohttp import web

    from server.app import create_app

    if port_file is not None:
        port_file.unlink(missing_ok=True)  # a file left by an earlier run names the wrong port
    sock = _listening_socket(host) if port == 0 else None
    if sock is not None:
        port = sock.getsockname()[1]

    async def _print_banner(app):
        # Everything loaded at start-up lives as long as the process, and most of what
        # a full collection leaves alive (rooms, sockets) lives for minutes: kept out
        # of the collector's walk, full collections stay short; with 1,000 rooms one
        # walking them all stopped the loop for 587 ms (server/ops/collector.py).
        keep_survivors_frozen()
        if banner:
            banner(port)
        sys.stdout.flush()
        if workers is not None:
            workers.spawn()

    def _listening(_message: str) -> None:
        # aiohttp calls its ``print`` once every site listens: the port file means "connect here now".
        if port_file is not None:
            _write_port_file(port_file, port)

    workers = None
    if settings.recorder_processes and not settings.recorder_urls:
        # Recording encodes video: in its own processes, so that it never holds
        # the event loop that carries every call's signaling (issue 13).
        from server.recorders.workers import RecorderWorkers

        workers = RecorderWorkers()
        settings = settings.with_(recorder_urls=workers.plan(settings.recorder_processes))
    try:
        app = create_app(settings)
        app.on_startup.append(_print_banner)
        if sock is not None:
            web.run_app(app, sock=sock, ssl_context=ssl_ctx, print=_listening, access_log=None, shutdown_timeout=10)
        else:
            web.run_app(app, host=host, port=port, ssl_context=ssl_ctx, print=_listening, access_log=None, shutdown_timeout=10)
    finally:
        # After the web process has stopped its recordings (each sealed by its recorder).
        if workers is not None:
            workers.stop()


PORT_HELP = "0 lets the system pick a free port (shown in the banner and written to --port-file)."
PORT_FILE_HELP = "Write the port the server listens on to this file once it listens (for scripts and tests that start it with --port 0)."


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int, help=PORT_HELP)
@click.option("--port-file", type=click.Path(dir_okay=False, path_type=Path), default=None, help=PORT_FILE_HELP)
@click.option("--tls", is_flag=True, help="Serve HTTPS with a self-signed certificate kept in the data folder.")
@click.option("--cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate chain for HTTPS.")
@click.option("--key", type=click.Path(exists=True, dir_okay=False), help="PEM private key for --cert.")
def serve(host: str, port: int, port_file: Path | None, tls: bool, cert: str | None, key: str | None) -> None:
    """Serve the app."""
    settings = _settings()
    ssl_ctx = _tls_context(settings, tls, cert, key)
    scheme = "https" if ssl_ctx else "http"
    _run(settings, host, port, ssl_ctx, banner=lambda bound: click.echo(f"Bimbing serving on {scheme}://{host}:{bound}/"), port_file=port_file)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Use a private network address to serve web processes on other machines.")
@click.option("--port", default=8090, show_default=True, type=int, help="0 picks a free port (printed on the first line).")
@click.option("--watch-parent", type=int, default=None, hidden=True, help="Seal and exit when this process (the web process that started this one) dies.")
def recorder(host: str, port: int, watch_parent: int | None) -> None:
    """Run a recorder process: it receives the consoles' uploads and writes sealed files."""
    import signal

    from aiohttp import web

    from server.recorders.service import create_recorder_app
    from server.recorders.client import recorder_token
    from server.recorders.workers import READY_PREFIX

    settings = _settings()
    app = create_recorder_app(settings, recorder_token(settings), parent=watch_parent)

    async def go():
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=10)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        click.echo(f"{READY_PREFIX}http://{host}:{bound}/")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        # Cleanup seals every recording still running.
        await runner.cleanup()

    asyncio.run(go())


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema."""
    from server.db.engine import make_engine
    from server.db.migrate import upgrade

    settings = _settings()

    async def go():
        engine = make_engine(settings.database_url)
        try:
            await upgrade(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(go())
    click.echo(f"Schema is at {revision}.")


@main.group()
def user() -> None:
    """Staff accounts."""


@user.command("add")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["pk", "supervisor", "admin"]))
@click.option("--name", default=None, help="Full name (defaults to the username).")
@click.option("--office", default=None, help="Office name (the first office by default; created if none exists).")
def user_add(username: str, role: str, name: str | None, office: str | None) -> None:
    """Add a staff member. The password comes from standard input, never an argument."""
    from server.security.passwords import MIN_LENGTH
    from server.staff import add_user

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            raise click.ClickException("The passwords differ.")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_LENGTH:
        raise click.ClickException(f"The password must be at least {MIN_LENGTH} characters.")
    settings = _settings()
    from sqlalchemy.exc import DBAPIError

    try:
        staff_id = asyncio.run(add_user(settings, username=username, role=role, name=name or username, password=password, office_name=office))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except DBAPIError as exc:
        # Usually a database that was never migrated; say what to do, not a traceback.
        raise click.ClickException(f"The database refused: {exc.orig}. Has `bimbing db upgrade` been run?") from None
    click.echo(f"Added {role} {username} (id {staff_id}).")


@main.group()
def area() -> None:
    """The office's working area (city → kecamatan → kelurahan)."""


@area.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--office", default=None, help="Office name (the first office by default).")
def area_load(file: Path, office: str | None) -> None:
    """Load the working area from FILE (JSON: {"area": {city: {kecamatan: [kelurahan]}}})."""
    from server.area_load import load_area_file
    from server.domain.errors import DomainError

    try:
        added, unmatched = asyncio.run(load_area_file(_settings(), file, office))
    except (ValueError, DomainError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Added {added} areas.")
    if unmatched:
        click.echo(f"{len(unmatched)} clients have a kelurahan outside the area; fix them (see /admin/areas):")
        for line in unmatched:
            click.echo(f"  {line}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Use 0.0.0.0 with --tls to let phones on the network join.")
@click.option("--port", default=8080, show_default=True, type=int, help=PORT_HELP)
@click.option("--port-file", type=click.Path(dir_okay=False, path_type=Path), default=None, help=PORT_FILE_HELP)
@click.option("--tls", is_flag=True, help="Serve HTTPS with a self-signed certificate.")
@click.option("--cert", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", type=click.Path(exists=True, dir_okay=False))
def demo(host: str, port: int, port_file: Path | None, tls: bool, cert: str | None, key: str | None) -> None:
    """Seed a demo office (once) and serve it."""
    from server.demo import seed_demo

    settings = _settings(demo=True)
    logins = asyncio.run(seed_demo(settings))
    ssl_ctx = _tls_context(settings, tls, cert, key)
    scheme = "https" if ssl_ctx else "http"
    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host

    def banner(port: int):
        click.echo(f"Bimbing demo: {scheme}://{shown_host}:{port}/")
        if host in ("0.0.0.0", "::"):
            from server.security.tls import local_addresses

            lan = [a for a in local_addresses() if not a.startswith("127.")]
            for address in lan:
                click.echo(f"  on this network: {scheme}://{address}:{port}/")
            # Join links are built from the address the PK's browser used.
            click.echo("  Sign in as a PK through a network address so the links you share reach phones.")
            if not ssl_ctx:
                click.echo("  Phones open the camera only over HTTPS: add --tls.")
        else:
            click.echo("  Only this computer can reach it; for phones on the network use --host 0.0.0.0 --tls.")
        click.echo("Demo logins (username / password / role):")
        for entry in logins:
            click.echo(f"  {entry['username']} / {entry['password']} / {entry['role']}")

    _run(settings, host, port, ssl_ctx, banner=banner, port_file=port_file)


@main.group()
def audit() -> None:
    """The tamper-evident audit trail."""


@audit.command("verify")
def audit_verify() -> None:
    """Re-walk the audit trail; exit 0 if intact, 1 naming the first broken entry."""
    from server.audit.verify import verify_database

    settings = _settings()
    report = asyncio.run(verify_database(settings))
    click.echo(report.summary())
    sys.exit(0 if report.ok else 1)


def _audit_log_run(settings: Settings, work):
    """Open the database and the audit log (with its signing key), run ``work``."""
    from server.audit.chain import AuditLog
    from server.audit.signing import SigningKeyError
    from server.db.engine import make_engine, make_sessionmaker

    async def go():
        engine = make_engine(settings.database_url)
        try:
            sessionmaker = make_sessionmaker(engine)
            return await work(sessionmaker, AuditLog.from_settings(sessionmaker, settings))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from None


@audit.command("sign")
def audit_sign() -> None:
    """Sign the current head of the audit trail now (e.g. before a backup)."""
    settings = _settings()
    if settings.audit_signing_key_path is None:
        raise click.ClickException("No signing key: set BIMBING_AUDIT_SIGNING_KEY.")

    async def work(_sessionmaker, log):
        return await log.sign_head()

    head = _audit_log_run(settings, work)
    if head is None:
        click.echo("Nothing to sign: the trail is empty or its head is already signed.")
    else:
        click.echo(f"Signed head seq={head.seq} hash={head.hash} key={head.key_id}.")


@audit.command("retention")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; remove nothing.")
def audit_retention(dry_run: bool) -> None:
    """Remove sessions, audit entries and other personal data older than the retention settings (audited)."""
    from server.audit.retention import RetentionRefused, apply_retention

    settings = _settings()

    async def work(sessionmaker, log):
        return await apply_retention(sessionmaker, settings, log, dry_run=dry_run, actor="cli")

    try:
        result = _audit_log_run(settings, work)
    except RetentionRefused as exc:
        raise click.ClickException(f"Retention refused: {exc}") from None
    click.echo(result.summary())


@main.group()
def letters() -> None:
    """Letters the office issued."""


@letters.command("sign-revocations")
def letters_sign_revocations() -> None:
    """Sign the revocations made before migration 0014, from the audit trail (once, after the upgrade)."""
    from server.audit.signing import SigningKeyError
    from server.audit.verify import verify_database
    from server.domain.documents.letters import load_signer, sign_recorded_revocations

    settings = _settings()
    # The trail says which revocations were really made: only an intact one is believed.
    report = asyncio.run(verify_database(settings))
    if not report.ok:
        raise click.ClickException("The audit trail is not intact; nothing signed.\n" + report.summary())
    try:
        signer = load_signer(settings)
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from None

    async def work(sessionmaker, log):
        async with sessionmaker() as db:
            signed, left = await sign_recorded_revocations(db, signer)
            await db.commit()
            signed_numbers, left_numbers = [x.number for x in signed], [x.number for x in left]
        if signed:
            await log.record("letter.revocations_signed", actor="cli", target_type="letter", detail={"signed": signed_numbers, "left": left_numbers})
        return signed_numbers, left_numbers

    signed, left = _audit_log_run(settings, work)
    click.echo(f"Signed {len(signed)} revocation(s) the audit trail records." + "".join(f"\n  signed {n}" for n in signed))
    if left:
        click.echo(f"Left {len(left)} unsigned (no letter.revoke in the audit trail): " + ", ".join(left))
