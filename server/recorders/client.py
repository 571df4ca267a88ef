"""Recorders in other processes, reached over HTTP (docs/deploy.md, "Recorder processes").

Why HTTP on a local port: the web process only hands over the console's offer
and takes back the answer, then later asks for the stop; both are one request
each, a recorder may run on another machine, and aiohttp is already here. No
new service (Redis is optional in Bimbing) and no shared state: each recording
lives in the recorder that accepted it, named by the handle it returned.

Every request carries ``Authorization: Bearer <token>``: ``BIMBING_RECORDER_TOKEN``,
or derived from ``BIMBING_SECRET_KEY`` when both processes share it (as the
recorders ``bimbing serve`` starts do).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any

import aiohttp

from server.media.backend import Outcome, RecorderUnavailable, Started
from server.settings import Settings

log = logging.getLogger(__name__)

START_TIMEOUT = 30.0
# A recorder started with the web process may still be importing: connection
# refusals are retried this long before the recording is refused.
CONNECT_WAIT = 30.0
# The recorder closes the file (up to 60 s on a starved machine), then seals it.
STOP_TIMEOUT = 150.0


def recorder_token(settings: Settings) -> str:
    if settings.recorder_token:
        return settings.recorder_token
    return hmac.new(settings.secret_key.encode(), b"bimbing recorder", hashlib.sha256).hexdigest()


class RemoteRecorders:
    """Sends each recording to the recorder with the fewest this process started."""

    def __init__(self, urls: tuple[str, ...], token: str):
        if not urls:
            raise ValueError("no recorder urls")
        self.urls = tuple(u.rstrip("/") for u in urls)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._load = {url: 0 for url in self.urls}
        self._live: dict[str, str] = {}  # handle -> url
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(headers=self._headers)
        return self._http

    def running(self) -> int:
        return len(self._live)

    async def start(self, session_id: int, party: str, offer_sdp: str, ice_servers: list[dict[str, Any]]) -> Started:
        url = min(self.urls, key=lambda u: self._load[u])
        body = {"session_id": session_id, "party": party, "sdp": offer_sdp, "ice_servers": ice_servers}
        deadline = asyncio.get_running_loop().time() + CONNECT_WAIT
        try:
            while True:
                try:
                    answer, status = await self._post_start(url, body)
                    break
                except aiohttp.ClientConnectorError:
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            if status != 201:
                raise RecorderUnavailable(str(answer.get("message") or f"the recorder answered {status}"))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("recorder %s could not be reached: %s", url, type(exc).__name__)
            raise RecorderUnavailable(f"the recorder could not be reached ({type(exc).__name__})") from None
        handle = f"{url}#{answer['id']}"
        self._live[handle] = url
        self._load[url] += 1
        return Started(handle, answer["answer"], answer["name"], bool(answer["audio_only"]))

    async def _post_start(self, url: str, body: dict) -> tuple[dict, int]:
        async with self._session().post(f"{url}/recordings", json=body, timeout=aiohttp.ClientTimeout(total=START_TIMEOUT)) as resp:
            return await resp.json(content_type=None), resp.status

    async def stop(self, handle: str) -> Outcome | None:
        url = self._live.pop(handle, None)
        if url is None:
            return None
        self._load[url] -= 1
        rid = handle.rsplit("#", 1)[1]
        try:
            async with self._session().post(f"{url}/recordings/{rid}/stop", timeout=aiohttp.ClientTimeout(total=STOP_TIMEOUT)) as resp:
                if resp.status == 404:
                    return {"status": "failed", "problem": "the recorder no longer holds this recording (it restarted)"}
                resp.raise_for_status()
                return await resp.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("recorder %s did not stop recording %s: %s", url, rid, type(exc).__name__)
            return {"status": "failed", "problem": f"the recorder could not be reached at stop ({type(exc).__name__})"}

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
