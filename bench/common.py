"""Shared helpers for the signaling benchmarks (bench/join_to_connected.py,
bench/relay.py): a real ``bimbing serve`` subprocess on a port the system picks, with a
throw-away SQLite database, bulk seeding of video sessions, join tokens minted
with the server's own code and secret, percentiles and a plain table, and the
command line every bench shares (``bench_parser``, ``parse_bench_args``).

Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import psutil  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from server.db.engine import make_engine, make_sessionmaker  # noqa: E402
from server.db.models import (  # noqa: E402
    Client,
    ClientCategory,
    GuidanceSession,
    Program,
    SessionMode,
    SessionStatus,
    Staff,
)
from server.settings import Settings  # noqa: E402
from server.web.links import join_token  # noqa: E402

BIMBING = Path(sys.executable).with_name("bimbing")
PK_USERNAME = "pk_bench"
PK_PASSWORD = "bench horse battery staple"


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    """A port free at this instant, for a server that cannot report the port it
    bound (relay.py's baseline); ``bimbing serve`` binds port 0 and reports it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _raise_nofile_in_child() -> None:  # preexec_fn: runs in the child before exec
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def wait_http(url: str, proc: asyncio.subprocess.Process, log: Path, timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers 200; fail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"server exited early ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout}s: {log.read_text()[-2000:]}")
            await asyncio.sleep(0.1)


async def wait_port_file(port_file: Path, proc: asyncio.subprocess.Process, log: Path, timeout: float = 120.0) -> int:
    """The port a server started with ``--port-file`` listens on, once it listens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(port_file.read_text())
        except (FileNotFoundError, ValueError):
            pass
        if proc.returncode is not None:
            raise RuntimeError(f"server exited early ({proc.returncode}): {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not listen within {timeout}s: {log.read_text()[-2000:]}")
        await asyncio.sleep(0.05)


async def stop_process(proc: asyncio.subprocess.Process | None, timeout: float = 15.0) -> None:
    """SIGTERM, wait (bounded), then SIGKILL: only the process we started."""
    if proc is None or proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()


GC_LOGGER = """
import gc, os, time
_out = open(os.environ["BENCH_GC_LOG"], "a", buffering=1)
_start = [0.0]
def _gc(phase, info):
    if phase == "start":
        _start[0] = time.perf_counter()
        return
    took = time.perf_counter() - _start[0]
    if info["generation"] == 2 or took > 0.005:
        _out.write(f"{time.perf_counter():.3f} {info['generation']} {took:.4f} {info['collected']}\\n")
gc.callbacks.append(_gc)

# The loop's slow callbacks (over 20 ms), what ran and for how long: a stall that
# is no collection is named here (one line per callback, after the GC lines' clock).
import asyncio.events as _events
_stalls = open(os.environ["BENCH_GC_LOG"] + ".stalls", "a", buffering=1)
_handle_run = _events.Handle._run
def _timed_run(self):
    t = time.perf_counter()
    _handle_run(self)
    took = time.perf_counter() - t
    if took > 0.02:
        cb = self._callback
        what = getattr(cb, "__qualname__", None) or repr(cb)[:120]
        task = getattr(cb, "__self__", None)
        if task is not None and hasattr(task, "get_coro"):
            what += " " + getattr(task.get_coro(), "__qualname__", "?")
        _stalls.write(f"{time.perf_counter():.3f} {took:.4f} {what}\\n")
_events.Handle._run = _timed_run
"""


def read_gc_log(path: Path | None, since: float, until: float) -> list[tuple[int, float]]:
    """(generation, seconds) of the logged collections between two perf_counter stamps."""
    if path is None or not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        at, gen, took, _ = line.split()
        if since <= float(at) <= until:
            out.append((int(gen), float(took)))
    return out


def read_stalls(path: Path | None, since: float, until: float) -> list[tuple[float, str]]:
    """(seconds, what ran) of the server's loop callbacks over 20 ms between two
    perf_counter stamps (logged beside the collections by --gc-log)."""
    stalls = Path(f"{path}.stalls") if path is not None else None
    if stalls is None or not stalls.exists():
        return []
    out = []
    for line in stalls.read_text().splitlines():
        at, took, what = line.split(" ", 2)
        if since <= float(at) <= until:
            out.append((float(took), what))
    return out


# The server's limits a bench lifts, set explicitly whatever the server's defaults:
# every party of a bench comes from 127.0.0.1, where in the field each is a phone
# or a desk of its own. Every other BIMBING_ variable is removed from the server's
# environment, so a limit the server gains is at its default here until it is
# named below (relay.py failed at 100 rooms with 429 from the pending-handshake
# cap, issue 19). A bench passes its own (``BimbingServer(**env)``) over these.
BENCH_LIMITS = {
    # Each room's client opens its join link from the one address.
    "BIMBING_JOIN_OPENS_PER_WINDOW": "1000000",
    # ...and all of them from one address (600 per window by default since issue 23:
    # relay.py failed at 1,000 rooms with 429 on the 601st link).
    "BIMBING_JOIN_OPENS_PER_ADDRESS": "1000000",
    # Sockets not yet joined, per address and in all: a bench opens up to
    # 2 x --concurrency at once (relay.py, admission.py: 50 rooms at a time).
    "BIMBING_WS_PENDING_PER_ADDRESS": "100000",
    "BIMBING_WS_PENDING_TOTAL": "100000",
}


class BimbingServer:
    """``bimbing serve`` as its own process on a free port, with a tmp SQLite
    database, a tmp ``BIMBING_DATA_DIR``, a fresh ``BIMBING_SECRET_KEY`` and
    BENCH_LIMITS. ``setup()`` creates the schema and one PK (password on stdin)
    with the CLI."""

    def __init__(self, keep: bool = False, gc_log: bool = False, database: str = "sqlite", **env: str):
        self.dir = Path(tempfile.mkdtemp(prefix="bimbing-bench-"))
        self.keep = keep
        self.port = 0  # the system picks it at the first start (--port-file); a restart binds it again
        self.secret = secrets.token_urlsafe(48)
        self.db_path = self.dir / "bench.db"
        self.pg_name: str | None = None
        if database == "postgres":
            # A throw-away database on the local PostgreSQL (dropped by stop()).
            self.pg_name = f"bimbing_bench_{secrets.token_hex(6)}"
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'CREATE DATABASE "{self.pg_name}"'], check=True, capture_output=True)
            self.database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.pg_name}"
        else:
            self.database_url = f"sqlite+aiosqlite:///{self.db_path}"
        self.log = self.dir / "server.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BIMBING_")},
            "BIMBING_DATABASE_URL": self.database_url,
            "BIMBING_DATA_DIR": str(self.dir / "data"),
            "BIMBING_SECRET_KEY": self.secret,
            **BENCH_LIMITS,
            # The server of this tree: `bimbing` imports `server` through the venv's
            # install, which may be another checkout's (a worktree sharing a venv
            # measured main's code). admission.py --base passes its own.
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.proc: asyncio.subprocess.Process | None = None
        self.pk_id: int | None = None
        self.gc_log: Path | None = None
        if gc_log:
            # Diagnostic only: a sitecustomize in the bench's tmp folder (nothing in
            # server/) logs the server's slow garbage collections.
            site = self.dir / "site"
            site.mkdir()
            (site / "sitecustomize.py").write_text(GC_LOGGER)
            self.gc_log = self.dir / "gc.log"
            self.env["PYTHONPATH"] = os.pathsep.join([str(site), self.env["PYTHONPATH"]])
            self.env["BENCH_GC_LOG"] = str(self.gc_log)

    @property
    def base(self) -> str:
        if not self.port:
            raise RuntimeError("the server has no port before start(): the system picks it then")
        return f"http://127.0.0.1:{self.port}"

    @property
    def settings(self) -> Settings:
        """The settings the server builds from the same environment (same secret, same windows)."""
        return Settings.from_env(self.env)

    def _cli(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [str(BIMBING), *args], input=stdin, env=self.env, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"bimbing {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def setup(self) -> None:
        self._cli("db", "upgrade")
        self._cli("user", "add", "--username", PK_USERNAME, "--role", "pk", stdin=PK_PASSWORD + "\n")

    async def setup_and_start(self) -> None:
        """``setup()`` then ``start()``; on failure the server is stopped (its folder and database removed)."""
        try:
            self.setup()
            await self.start()
        except BaseException:
            await self.stop()
            raise

    async def start(self) -> None:
        port_file = self.dir / "server.port"
        port_file.unlink(missing_ok=True)
        with open(self.log, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                str(BIMBING), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--port-file", str(port_file),
                env=self.env, stdout=log, stderr=log, preexec_fn=_raise_nofile_in_child,
            )
        self.port = await wait_port_file(port_file, self.proc, self.log)
        await wait_http(f"{self.base}/healthz", self.proc, self.log)

    def rss(self) -> int:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    async def stop(self) -> None:
        await stop_process(self.proc)
        if self.pg_name:
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'], capture_output=True)
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


@dataclass(frozen=True)
class Seeded:
    session_id: int
    token: str


async def seed_video_sessions(server: BimbingServer, count: int, batch: int = 1000, *, record: bool = False) -> list[Seeded]:
    """``count`` clients of the bench PK, each with one scheduled video session
    starting now, inserted with SQLAlchemy bulk inserts; then a join token for
    each, minted with the server's own code and secret."""
    settings = server.settings
    engine = make_engine(server.database_url)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    today = date.today()
    try:
        sm = make_sessionmaker(engine)
        async with sm() as db:
            pk = await db.scalar(select(Staff).where(Staff.username == PK_USERNAME))
            assert pk is not None, "run server.setup() first"
            server.pk_id = pk.id
            first_client = (await db.scalar(select(Client.id).order_by(Client.id.desc()).limit(1))) or 0
            first_session = (await db.scalar(select(GuidanceSession.id).order_by(GuidanceSession.id.desc()).limit(1))) or 0
            for start in range(0, count, batch):
                n = min(batch, count - start)
                clients = [
                    dict(
                        id=first_client + start + i + 1, office_id=pk.office_id, officer_id=pk.id,
                        register_number=f"BENCH-{first_client + start + i + 1}", name=f"Klien {first_client + start + i + 1}",
                        category=ClientCategory.adult, program=Program.pb,
                        supervision_start=today - timedelta(days=30), supervision_end=today + timedelta(days=300),
                        reporting_interval_days=14, kelurahan="Cakung Barat", phone="", employment="", created_at=now,
                    )
                    for i in range(n)
                ]
                await db.execute(insert(Client), clients)
                sessions = [
                    dict(
                        id=first_session + start + i + 1, office_id=pk.office_id, client_id=c["id"], officer_id=pk.id,
                        mode=SessionMode.video, status=SessionStatus.scheduled, scheduled_at=now,
                        duration_seconds=0, notes="", topics=[], record=record, location="", link_version=1,
                        created_at=now, created_by_id=pk.id,
                    )
                    for i, c in enumerate(clients)
                ]
                await db.execute(insert(GuidanceSession), sessions)
            await db.commit()
    finally:
        await engine.dispose()
    out = []
    for i in range(count):
        sid = first_session + i + 1
        row = GuidanceSession(id=sid, link_version=1, scheduled_at=now)
        out.append(Seeded(sid, join_token(settings, row)))
    return out


# ---- numbers and tables ------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); q in 0..100."""
    if not values:
        return float("nan")
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def ms(seconds: float) -> str:
    if seconds != seconds:
        return "n/a"
    value = seconds * 1000
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


RESULTS_DIR = Path(__file__).resolve().parent / "results"


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """A bench's command line, with its module docstring (as written) for ``--help``."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def parse_bench_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The bench's own options and ``--results-dir``: where write_results puts <name>.md
    (tests/test_benches.py gives a temporary folder, so a CI run never rewrites the stated runs)."""
    global RESULTS_DIR
    parser.add_argument("--results-dir", type=Path, default=None, help=f"write the results here instead of {RESULTS_DIR.relative_to(ROOT)}/")
    args = parser.parse_args()
    if args.results_dir is not None:
        RESULTS_DIR = args.results_dir.resolve()
    return args


# Every table printed in this run, as markdown, for write_results.
_TABLES: list[str] = []
_STARTED = datetime.now(timezone.utc)
_LOAD_AT_START = os.getloadavg()[0]


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def note(text: str) -> None:
    """A line printed and kept under the tables of bench/results/<name>.md."""
    print(text, flush=True)
    _TABLES.append(text)


def write_results(name: str, title: str, command: str) -> Path:
    """bench/results/<name>.md: every table this run printed, with the machine,
    the date and the load, so bench/README.md quotes a stated run."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.md"
    finished = datetime.now(timezone.utc)
    header = [
        f"# {title}",
        "",
        f"Written by `{command}` on {finished:%Y-%m-%d} ({_STARTED:%H:%M}-{finished:%H:%M} UTC).",
        f"Machine: {machine_line()}; load average {_LOAD_AT_START:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.",
        "",
    ]
    path.write_text("\n".join(header) + "\n" + "\n\n".join(_TABLES) + "\n", encoding="utf-8")
    print(f"\nwrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def print_table(headers: list[str], rows: list[list[object]], caption: str = "", keep: bool = True) -> None:
    """Print a plain table; ``keep`` it (with its caption) for write_results."""
    if keep:
        _TABLES.append((f"{caption}\n\n" if caption else "") + markdown_table(headers, rows))
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if n and i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print(line)
    sys.stdout.flush()


def machine_line() -> str:
    import platform

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({cpu or platform.machine()}), {platform.system()} {platform.release()}, Python {platform.python_version()}, aiohttp {aiohttp.__version__}"


def machine() -> str:
    import platform

    return f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, aiohttp {aiohttp.__version__}, {datetime.now().strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}"


# --- throw-away databases (audit.py, read_paths.py) --------------------------------

PG_BASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def pg_admin(sql: str) -> None:
    url = make_url(PG_BASE)
    conn = await asyncpg.connect(user=url.username, host=url.host, port=url.port, database=url.database)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fresh_database(backend: str, workdir: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite+aiosqlite:///{path}", None
    name = f"bimbing_bench_{uuid.uuid4().hex[:10]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    return make_url(PG_BASE).set(database=name).render_as_string(hide_password=False), name


async def drop_database(url: str, name: str | None) -> None:
    if name:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = Path(url.split(":///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
