"""The office's letterhead logo: an admin's upload kept in the data folder.

The file is checked by its first bytes (PNG or JPEG, whatever name or type the
browser claims), limited in size, and stored under a name the server makes, so
an upload can neither choose where it lands nor pass for another kind of file.
Reading goes through ``logo_file``, which stays inside the data folder even if
``logo_path`` in the settings were edited to point elsewhere.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from server.domain.errors import DomainError, ErrorKind

FOLDER = "office"
SIGNATURES = {b"\x89PNG\r\n\x1a\n": ("png", "image/png"), b"\xff\xd8\xff": ("jpg", "image/jpeg")}
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


def image_kind(data: bytes) -> str | None:
    for magic, (ext, _type) in SIGNATURES.items():
        if data.startswith(magic):
            return ext
    return None


def save_logo(data_dir: Path, data: bytes, max_bytes: int) -> str:
    """Store the image; return its path relative to the data folder."""
    if not data:
        raise DomainError(ErrorKind.invalid, "logo-empty", "No file was sent.", key="error.logo_empty")
    if len(data) > max_bytes:
        raise DomainError(ErrorKind.too_large, "logo-too-large", f"The logo is larger than {max_bytes} bytes.", key="error.logo_too_large")
    ext = image_kind(data)
    if ext is None:
        raise DomainError(ErrorKind.unsupported, "logo-not-image", "The logo must be a PNG or JPEG image.", key="error.logo_not_image")
    folder = Path(data_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    name = f"logo-{secrets.token_hex(8)}.{ext}"
    (folder / name).write_bytes(data)
    return f"{FOLDER}/{name}"


def logo_file(data_dir: Path, logo_path: str) -> tuple[Path, str] | None:
    """The logo's file and content type, or None (no logo, gone, or outside the data folder)."""
    if not logo_path:
        return None
    root = Path(data_dir).resolve()
    path = (root / logo_path).resolve()
    if root not in path.parents or not path.is_file():
        return None
    ext = path.suffix.lstrip(".").lower().replace("jpeg", "jpg")
    kind = image_kind(path.read_bytes()[:8])
    if kind is None or kind != ext:
        return None
    return path, CONTENT_TYPES[kind]
