"""A real demo server for the supervisor's browser tests: ``bimbing demo`` on a
port the system picks with its own data folder, and Chromium launched the way CI runs it.
Kept apart from conftest.py on purpose (the call tests own that)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import server_env
from tests.services import (
    STARTUP_TIMEOUT,
    require_chromium,
    wait_healthy_process,
    wait_port_file,
)

BIMBING = Path(sys.executable).with_name("bimbing")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class DemoServer:
    url: str
    logins: dict[str, dict[str, str]]
    process: subprocess.Popen
    log: Path


def start_demo(data_dir: Path, timeout: float = STARTUP_TIMEOUT) -> DemoServer:
    env = server_env()
    env.update(BIMBING_DATA_DIR=str(data_dir), BIMBING_AUDIT_SIGN_EVERY="10")
    log = data_dir.parent / "demo-server.log"
    command = [str(BIMBING)] if BIMBING.exists() else [sys.executable, "-m", "server"]
    data_dir.mkdir(parents=True, exist_ok=True)
    port_file = data_dir.parent / "demo-server.port"
    with log.open("wb") as out:
        proc = subprocess.Popen(command + ["demo", "--port", "0", "--port-file", str(port_file)], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{wait_port_file(port_file, proc, log, timeout)}"
        wait_healthy_process(url, proc, log, timeout)
    except BaseException:
        proc.terminate()
        raise
    # The same logins the demo prints, from the file it prints them from.
    logins = {entry["username"]: entry for entry in json.loads((data_dir / "demo-logins.json").read_text())}
    return DemoServer(url, logins, proc, log)


def stop_demo(server: DemoServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


async def launch_chromium(playwright):
    return await playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_FLAGS)
