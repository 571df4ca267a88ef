"""Recordings at rest: encrypted, confined to their folder, named by the server.

File format (all integers big-endian)::

    MAGIC (8 bytes, b"BMBREC1\\n")
    wrapped data key: nonce (12) + AES-256-GCM(master key, data key, aad=MAGIC) (32 + 16)
    file nonce prefix (4)
    chunks: length of the sealed chunk (4) + AES-256-GCM(data key, plaintext chunk)

Each recording gets its own random data key, wrapped by the master key
(``BIMBING_RECORDING_KEY``), so a key rotation re-wraps 60 bytes per file and
never re-encrypts video. A chunk's nonce is the file prefix plus its counter;
its associated data is the counter and a "last chunk" flag, so chunks cannot be
reordered, dropped, or the file cut short without decryption failing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import struct
from pathlib import Path
from typing import BinaryIO, Iterator

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"BMBREC1\n"
KEY_BYTES = 32
CHUNK = 64 * 1024
_WRAP_LEN = 12 + KEY_BYTES + 16
_HEADER_LEN = len(MAGIC) + _WRAP_LEN + 4
# Server-generated names only: "s<session>-<party>-<random>.<ext>[.enc]"; anything
# else (a path, "..", a NUL, a name a person typed) is refused before it reaches the disk.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,95}(\.[a-z0-9]{1,8}){0,2}")


class UnsafePath(ValueError):
    """A recording name that could leave the recordings folder."""


class DecryptionError(ValueError):
    """The file is not a recording sealed with this master key, or was altered."""


def parse_master_key(raw: str) -> bytes:
    """``BIMBING_RECORDING_KEY``: 32 random bytes, base64 (standard or URL-safe)."""
    text = raw.strip()
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None, validate=True)
    except ValueError:
        raise ValueError("BIMBING_RECORDING_KEY must be base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"BIMBING_RECORDING_KEY must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def new_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def load_master_key(settings) -> bytes:
    """The configured key; in development one generated once into data_dir (0600),
    like the other local secrets. Production refuses to start without one
    (Settings.from_env), because a key lost with the data dir loses every recording."""
    if settings.recording_key:
        return parse_master_key(settings.recording_key)
    if settings.production:
        raise ValueError("BIMBING_RECORDING_KEY is required in production")
    path = Path(settings.data_dir) / "recording_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race; read its key
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(new_master_key())
    return parse_master_key(path.read_text())


def recording_name(session_id: int, party: str, ext: str) -> str:
    """A fresh server-generated name; nothing in it comes from a request."""
    if party not in ("officer", "client") or not re.fullmatch(r"[a-z0-9]{1,8}", ext):
        raise ValueError("bad party or extension")
    return f"s{int(session_id)}-{party}-{secrets.token_hex(8)}.{ext}"


def safe_path(root: Path, name: str) -> Path:
    """``root/name``, or :class:`UnsafePath` if that could be anywhere else.

    Only plain server-style names pass (no separators, no "..", no NUL, at
    most 120 characters), and the resolved path must still be directly in the
    resolved root, so a symlink planted in the folder cannot lead out of it.
    """
    if not isinstance(name, str) or len(name) > 120 or not _NAME.fullmatch(name) or ".." in name:
        raise UnsafePath(f"refused recording name {name[:40]!r}" if isinstance(name, str) else "refused recording name")
    base = Path(root).resolve()
    path = base / name
    if path.is_symlink() or path.resolve().parent != base:
        raise UnsafePath(f"recording name {name!r} leads out of the recordings folder")
    return path


def _aad(counter: int, last: bool) -> bytes:
    return struct.pack(">QB", counter, 1 if last else 0)


def encrypt_file(source: Path, target: Path, master_key: bytes) -> tuple[int, str]:
    """Seal ``source`` into ``target`` (created 0600, never overwritten).
    Returns the ciphertext's size and SHA-256 (hex). Blocking: run it in a thread."""
    with open(source, "rb") as src:
        return encrypt_stream(src, target, master_key)


def encrypt_stream(src: BinaryIO, target: Path, master_key: bytes) -> tuple[int, str]:
    """:func:`encrypt_file` from an open binary stream (an upload held in memory:
    its plaintext never touches the disk)."""
    data_key = AESGCM.generate_key(bit_length=256)
    wrap_nonce = secrets.token_bytes(12)
    prefix = secrets.token_bytes(4)
    header = MAGIC + wrap_nonce + AESGCM(master_key).encrypt(wrap_nonce, data_key, MAGIC) + prefix
    aead = AESGCM(data_key)
    digest = hashlib.sha256()
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:

        def write(data: bytes) -> None:
            nonlocal size
            out.write(data)
            digest.update(data)
            size += len(data)

        write(header)
        counter = 0
        chunk = src.read(CHUNK)
        while True:
            following = src.read(CHUNK)
            last = not following
            sealed = aead.encrypt(prefix + struct.pack(">Q", counter), chunk, _aad(counter, last))
            write(struct.pack(">I", len(sealed)) + sealed)
            if last:
                break
            counter += 1
            chunk = following
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def _read_exact(fh: BinaryIO, n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise DecryptionError("the recording is truncated")
    return data


def decrypt_chunks(path: Path, master_key: bytes) -> Iterator[bytes]:
    """The plaintext, chunk by chunk (for streaming). Raises DecryptionError on
    a wrong key or any alteration, at the latest at the end of the file."""
    with open(path, "rb") as fh:
        header = _read_exact(fh, _HEADER_LEN)
        if header[: len(MAGIC)] != MAGIC:
            raise DecryptionError("not a Bimbing recording")
        wrap = header[len(MAGIC) : len(MAGIC) + _WRAP_LEN]
        prefix = header[-4:]
        try:
            data_key = AESGCM(master_key).decrypt(wrap[:12], wrap[12:], MAGIC)
        except Exception:
            raise DecryptionError("the recording key does not open this file") from None
        aead = AESGCM(data_key)
        counter = 0
        while True:
            (length,) = struct.unpack(">I", _read_exact(fh, 4))
            if length > CHUNK + 16:
                raise DecryptionError("bad chunk length")
            sealed = _read_exact(fh, length)
            nonce = prefix + struct.pack(">Q", counter)
            at_end = fh.peek(1) == b""
            try:
                plain = aead.decrypt(nonce, sealed, _aad(counter, at_end))
            except Exception:
                raise DecryptionError("the recording was altered or cut short") from None
            yield plain
            if at_end:
                return
            counter += 1


def decrypt_file(path: Path, master_key: bytes) -> bytes:
    return b"".join(decrypt_chunks(path, master_key))
