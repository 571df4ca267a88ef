"""Ed25519 signatures over the audit chain's head (see docs/audit.md).

The private key lives in a file outside the database
(``settings.audit_signing_key_path``, PEM, PKCS#8), so someone who can write
to the database cannot forge a signed head. Outside production the key is
generated on first use with 0600 permissions; in production it must be
provisioned (a missing key is an error, not a silent new key, because a new
key would make every earlier head unverifiable). The public key is written
beside it as ``<path>.pub`` so that verification needs only that file.

A signed head states "entry ``seq`` had hash ``hash``". Its signature covers a
canonical JSON encoding of ``kind``, ``seq``, ``hash``, ``signed_at`` and
``key_id``, so none of them can be edited without breaking it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from server.db.models import AuditHead
from server.settings import Settings

HEAD = "head"
# A checkpoint is the signed hash of the last entry removed by retention: the
# first remaining entry must link to it, as the first ever entry links to GENESIS.
CHECKPOINT = "checkpoint"


class SigningKeyError(RuntimeError):
    """The signing key is missing or unusable; the message says which file and why."""


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def head_message(kind: str, seq: int, hash_: str, signed_at: datetime, key_id: str) -> bytes:
    fields = {
        "kind": kind,
        "seq": seq,
        "hash": hash_,
        "signed_at": signed_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "key_id": key_id,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two processes starting at once must not each write a different key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


@dataclass(frozen=True)
class HeadSigner:
    private: Ed25519PrivateKey
    key_id: str

    @classmethod
    def load(cls, path: Path, *, create: bool, what: str = "audit signing key") -> "HeadSigner":
        """Load the key at ``path`` (or make it, when ``create``); ``what`` names
        it in errors, since letters keep a key of their own the same way."""
        if not path.exists():
            if not create:
                raise SigningKeyError(f"{what} {path} does not exist (production never generates one: provision it)")
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            try:
                _write_private(path, pem)
            except FileExistsError:
                pass  # another process won the race; load theirs below
            else:
                _write_public(path, key.public_key())
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"{what} {path} is not a PEM Ed25519 private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{what} {path} is not an Ed25519 key")
        pub_path = public_path(path)
        if not pub_path.exists():
            _write_public(path, key.public_key())
        return cls(key, key_id_of(key.public_key()))

    @classmethod
    def from_settings(cls, settings: Settings) -> "HeadSigner | None":
        if settings.audit_signing_key_path is None:
            return None
        return cls.load(Path(settings.audit_signing_key_path), create=not settings.production)

    def sign(self, kind: str, seq: int, hash_: str, signed_at: datetime) -> AuditHead:
        signature = self.private.sign(head_message(kind, seq, hash_, signed_at, self.key_id))
        return AuditHead(kind=kind, seq=seq, hash=hash_, signed_at=signed_at, key_id=self.key_id, signature=signature.hex())

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()


def public_path(path: Path) -> Path:
    return path.with_name(path.name + ".pub")


def _write_public(path: Path, public: Ed25519PublicKey) -> None:
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    public_path(path).write_bytes(pem)


def load_public_keys(settings: Settings) -> dict[str, Ed25519PublicKey]:
    """Every public key we can verify with: the current key's (from the private
    key when readable, else ``<path>.pub``) and any retired ``*.pub`` kept in the
    same folder, by key id. Verification never creates a key."""
    keys: dict[str, Ed25519PublicKey] = {}
    path = settings.audit_signing_key_path
    if path is None:
        return keys
    path = Path(path)
    candidates = sorted(path.parent.glob("*.pub")) if path.parent.exists() else []
    for pub in candidates:
        try:
            key = serialization.load_pem_public_key(pub.read_bytes())
        except (ValueError, TypeError):
            continue
        if isinstance(key, Ed25519PublicKey):
            keys[key_id_of(key)] = key
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError):
            key = None
        if isinstance(key, Ed25519PrivateKey):
            keys[key_id_of(key.public_key())] = key.public_key()
    return keys


def signature_ok(head: AuditHead, keys: dict[str, Ed25519PublicKey]) -> bool | None:
    """True/False, or None when no key with the head's id is at hand."""
    key = keys.get(head.key_id)
    if key is None:
        return None
    try:
        signature = bytes.fromhex(head.signature)
    except ValueError:
        return False
    try:
        key.verify(signature, head_message(head.kind, head.seq, head.hash, head.signed_at, head.key_id))
    except InvalidSignature:
        return False
    return True
