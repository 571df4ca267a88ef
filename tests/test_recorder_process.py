"""The recorder out of the web process: the same recorded calls as
tests/test_recording.py, with the files written, checked and sealed by a real
``bimbing recorder`` process, and the recorders ``bimbing serve`` starts going
away with it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from server.media.ice_filter import server_networks
from server.recorders.workers import READY_PREFIX
from tests import test_recording as same
from tests.test_recording import calls_closed  # noqa: F401  (autouse: what the borrowed tests open is closed)
from tests.peers import until
from tests.test_restart import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


@pytest.fixture
def recorder(settings, tmp_path):
    """``bimbing recorder`` on a free port, sharing the web app's folders and secret."""
    log = tmp_path / "recorder.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BIMBING_")},
        "BIMBING_SECRET_KEY": settings.secret_key,
        "BIMBING_DATA_DIR": str(settings.data_dir),
        "BIMBING_RECORDINGS_DIR": str(settings.recordings_dir),
        # The test peers run on this machine: the recorder may reach its own networks here.
        "BIMBING_RECORDER_ALLOW_NETWORKS": ",".join(str(n) for n in server_networks()),
    }
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "server", "recorder", "--port", "0"], env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline()
    assert line.startswith(READY_PREFIX), (line, log.read_text())
    yield line[len(READY_PREFIX):].strip().rstrip("/"), log
    proc.terminate()
    proc.wait(60)


def sealed_over_there(log: Path, folder: Path) -> None:
    """The recordings in ``folder`` are the officer's and the client's, and the
    recorder process stopped each one itself: its log names every file (a web
    process recording on its own would leave the same files and no such line)."""
    sealed = sorted(path.name for path in folder.glob("*.enc"))
    assert [name.split("-")[1] for name in sealed] == ["client", "officer"], sealed
    stopped = sorted(re.findall(r"recording (\S+) stopped: ", log.read_text()))
    assert stopped == sealed, (stopped, log.read_text()[-2000:])


async def test_a_recorded_call_is_written_by_the_recorder_process(aiohttp_server, settings, office, capsys, recorder):
    url, log = recorder
    await same.test_a_recorded_call_is_stored_encrypted_with_video_and_audio(aiohttp_server, settings.with_(recorder_urls=(url,)), office, capsys)
    sealed_over_there(log, Path(settings.recordings_dir))


@pytest.mark.parametrize("how", ["hangup", "shutdown"])
async def test_the_recorder_process_seals_when_the_officer_leaves_or_the_server_stops(aiohttp_server, settings, office, how, recorder):
    url, log = recorder
    await same.test_the_recording_is_sealed_when_the_officer_leaves_or_the_server_stops(aiohttp_server, settings.with_(recorder_urls=(url,)), office, how)
    sealed_over_there(log, Path(settings.recordings_dir))


async def test_serve_starts_a_recorder_that_dies_with_it(tmp_path, settings, office):
    server = ServerProcess(tmp_path, settings, BIMBING_RECORDINGS_DIR=str(settings.recordings_dir), BIMBING_RECORDER_PROCESSES="1")
    await server.start()
    try:
        children = psutil.Process(server.proc.pid).children()
        recorders = [c for c in children if "recorder" in c.cmdline()]
        assert len(recorders) == 1, [c.cmdline() for c in children]
        server.proc.send_signal(signal.SIGKILL)
        await server.proc.wait()
        # Orphaned, it seals what it holds and exits (it polls its parent every second).
        await until(lambda: not recorders[0].is_running() or recorders[0].status() == psutil.STATUS_ZOMBIE, timeout=30, what="the recorder to exit")
    finally:
        await server.kill()
    assert not list(Path(settings.recordings_dir).glob("*.part"))
