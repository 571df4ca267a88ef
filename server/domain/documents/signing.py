"""Documents signed in a call (issue 22): the office's templates (kontrak
bimbingan, surat pernyataan) filled with the client's particulars, pushed to
the client's screen, signed there, countersigned by the PK, verified by anyone
at the letters' public page ``/v/{code}``.

The record a signature leaves, and why each part:

- ``content_hash``: SHA-256 over the canonical JSON (sorted keys, no spaces,
  UTF-8) of everything signed: the text as the client read it (title, body,
  particulars, its ``revision``), who and where (code, kind, version, office,
  client and session), the typed name, the drawn signature (its strokes of
  points), the server's time, the device's user agent and the network address
  the server saw. Any later change to any of them no longer matches it.
- ``seal``: the letter key's Ed25519 signature over ``"bimbing document v1\\n"
  + content_hash`` (server/domain/documents/letters.py holds the key), so
  that someone who can write to the database cannot make a document the
  public page vouches for: it checks the hash and the seal, and answers
  "unknown" otherwise, as for a letter.
- The countersignature the same way: ``countersign_hash`` over the
  content_hash and the PK's name, NIP, id and time; ``countersign_seal`` over it.

A signed document cannot change: :func:`update_body` refuses (conflict
``document-signed``), and an edit is a new document (the next ``version`` of
its kind for the client). While a document is pending, the PK may correct its
text; the client's signature names the ``revision`` it read, so a text changed
under their eyes is refused (``document-changed``) rather than signed unseen.

A drawn signature is strokes of integer points on the canvas the client drew
on (``width`` x ``height``), bounded in size here; the print page draws them
back as SVG. Points rather than a PNG: a tenth of the bytes on a weak link,
nothing to decode on the server, and no image data to trust.

No HTTP here: the API (server/web/api/documents.py) maps the errors.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.signing import HeadSigner, key_id_of
from server.db.locks import hold
from server.db.models import Client, GuidanceSession, Office, Staff, utcnow
from server.db.signing import SessionDocument
from server.domain.errors import DomainError, ErrorKind
from server.domain.office.profile import office_profile

KINDS = ("kontrak_bimbingan", "surat_pernyataan")
TITLES = {"kontrak_bimbingan": "KONTRAK BIMBINGAN", "surat_pernyataan": "SURAT PERNYATAAN"}

# How much a drawn signature may hold: a signature drawn with a finger on a
# phone is 5-30 strokes of a few hundred points (measured in the browser test:
# about 200 points); the body limit of the API (64 KiB) is the outer bound.
MAX_STROKES = 100
MAX_POINTS = 4000
MIN_POINTS = 2
CANVAS_MAX = (4000, 2000)
CANVAS_MIN = (50, 30)
MAX_BODY_CHARS = 20000
MAX_NAME_CHARS = 200

PROGRAMS = {"PB": "Pembebasan Bersyarat", "CB": "Cuti Bersyarat", "CMB": "Cuti Menjelang Bebas", "Asimilasi": "Asimilasi",
            "Diversi": "Diversi", "Pengawasan": "Pidana Pengawasan"}
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November", "Desember")

# The office's wording, in Bahasa Indonesia: these are documents of the office
# whatever language the PK's page is in. ``{...}`` are the particulars.
TEMPLATES = {
    "kontrak_bimbingan": (
        "Pada hari ini, {tanggal}, yang bertanda tangan di bawah ini:\n\n"
        "Nama: {nama}\nNomor register: {nomor_register}\nProgram: {program}\n"
        "Masa bimbingan: {mulai} sampai dengan {selesai}\nAlamat: {alamat}\n\n"
        "selanjutnya disebut KLIEN, dan {nama_pk}, NIP {nip_pk}, Pembimbing Kemasyarakatan pada {kantor}, "
        "selanjutnya disebut PK, sepakat mengadakan kontrak bimbingan sebagai berikut:\n\n"
        "1. KLIEN wajib lapor kepada PK setiap {interval} hari sekali, secara langsung di kantor, melalui panggilan video "
        "Bimbing, atau pada layanan bergerak, sesuai jadwal yang disepakati.\n"
        "2. KLIEN mengikuti program bimbingan kepribadian dan kemandirian yang ditetapkan bersama PK.\n"
        "3. KLIEN memberitahukan lebih dahulu kepada PK setiap kendala yang menghalangi wajib lapor, "
        "serta setiap perubahan alamat, pekerjaan, atau nomor telepon.\n"
        "4. KLIEN tidak melakukan pelanggaran hukum maupun pelanggaran syarat {program}.\n"
        "5. PK memberikan bimbingan, pendampingan, dan rujukan yang diperlukan KLIEN.\n\n"
        "KLIEN memahami bahwa pelanggaran atas kontrak ini dapat berakibat teguran sampai pencabutan {program}.\n\n"
        "Kontrak ini dibaca dan ditandatangani secara elektronik dalam sesi bimbingan melalui panggilan video."
    ),
    "surat_pernyataan": (
        "Yang bertanda tangan di bawah ini:\n\n"
        "Nama: {nama}\nNomor register: {nomor_register}\nProgram: {program}\nAlamat: {alamat}\n\n"
        "dengan ini menyatakan dengan sesungguhnya bahwa saya:\n\n"
        "1. Akan mematuhi seluruh syarat {program} selama masa bimbingan, {mulai} sampai dengan {selesai}.\n"
        "2. Akan melaksanakan wajib lapor kepada Pembimbing Kemasyarakatan {kantor} sesuai jadwal.\n"
        "3. Tidak akan melakukan tindak pidana atau pelanggaran hukum lainnya.\n"
        "4. Bersedia menerima sanksi sesuai peraturan perundang-undangan apabila melanggar pernyataan ini.\n\n"
        "Demikian surat pernyataan ini saya buat dengan sadar dan tanpa paksaan dari pihak mana pun, "
        "dibacakan dan ditandatangani secara elektronik dalam sesi bimbingan melalui panggilan video "
        "bersama {nama_pk} pada {tanggal}."
    ),
}


def indonesian_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def particulars_of(client: Client, officer: Staff, office: Office, day: date) -> dict[str, Any]:
    """The facts a template is filled with, as they are today, and the
    letterhead (``kop``) it prints under: kept with the document and covered by
    its hash, so a later change to the client or the office profile changes
    no document (as an issued letter keeps what it printed)."""
    profile = office_profile(office)
    address = ", ".join(part for part in (client.street, f"RT/RW {client.rt_rw}" if client.rt_rw else "", client.kelurahan) if part)
    program = client.program.value if hasattr(client.program, "value") else str(client.program)
    return {
        "nama": client.name, "nomor_register": client.register_number, "program": PROGRAMS.get(program, program),
        "mulai": indonesian_date(client.supervision_start), "selesai": indonesian_date(client.supervision_end),
        "alamat": address or "—", "interval": str(client.reporting_interval_days),
        "nama_pk": officer.name, "nip_pk": officer.nip or "—", "kantor": office.name, "tanggal": indonesian_date(day),
        "kop": {"name": office.name, "address": profile.address, "phone": profile.phone, "email": profile.email, "logo_path": profile.logo_path},
    }


def fill(kind: str, particulars: dict[str, Any]) -> str:
    return TEMPLATES[kind].format(**particulars)


async def create_document(db: AsyncSession, staff: Staff, session: GuidanceSession, kind: str, day: date) -> SessionDocument:
    """A new document of ``kind`` for the session's client: the next version of
    that kind for the client. Committed. The unique (client, kind, version) is
    what holds when two are made at once: the loser takes the next number."""
    if kind not in KINDS:
        raise DomainError(ErrorKind.invalid, "invalid-body", f"kind: one of {', '.join(KINDS)}", fields={"kind": "unknown document kind"})
    client = await db.get(Client, session.client_id)
    office = await db.get(Office, session.office_id)
    officer = await db.get(Staff, session.officer_id)
    particulars = particulars_of(client, officer, office, day)
    for _attempt in range(5):
        # The client's row held while the next version is counted and written: two
        # pushes at once take the next numbers one after the other (PITFALLS 11).
        await hold(db, Client, [client.id])
        version = 1 + (await db.scalar(
            select(func.coalesce(func.max(SessionDocument.version), 0)).where(SessionDocument.client_id == client.id, SessionDocument.kind == kind)
        ) or 0)
        document = SessionDocument(
            office_id=session.office_id, session_id=session.id, client_id=client.id, kind=kind, version=version, revision=1,
            title=TITLES[kind], body=fill(kind, particulars), particulars=particulars, status="pending",
            code=secrets.token_urlsafe(18), created_by_id=staff.id, created_at=utcnow(),
        )
        db.add(document)
        try:
            await db.commit()
        except IntegrityError:
            await db.rollback()
            continue
        return document
    raise DomainError(ErrorKind.conflict, "busy", "Too many documents made at once; try again.")


def _require_pending(document: SessionDocument) -> None:
    if document.status != "pending":
        raise DomainError(ErrorKind.conflict, "document-signed",
                          "A signed document cannot change; make a new document (POST /api/sessions/{id}/documents).", key="error.document_signed")


def update_body(document: SessionDocument, body: str) -> None:
    """Correct a pending document's text (the caller commits). Signed: refused."""
    _require_pending(document)
    text = body.strip()
    if not text or len(text) > MAX_BODY_CHARS:
        raise DomainError(ErrorKind.invalid, "invalid-body", f"body: 1 to {MAX_BODY_CHARS} characters", fields={"body": "1 to 20000 characters"})
    document.body = text
    document.revision += 1


@dataclass(frozen=True)
class Drawn:
    width: int
    height: int
    strokes: list[list[list[int]]]

    def as_json(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "strokes": self.strokes}


def check_signature(width: int, height: int, strokes: list[list[list[int]]]) -> Drawn:
    """A drawn signature within bounds, or why not (too large: ``signature-too-large``)."""
    if not (CANVAS_MIN[0] <= width <= CANVAS_MAX[0] and CANVAS_MIN[1] <= height <= CANVAS_MAX[1]):
        raise DomainError(ErrorKind.invalid, "invalid-signature", f"signature: width {CANVAS_MIN[0]}-{CANVAS_MAX[0]}, height {CANVAS_MIN[1]}-{CANVAS_MAX[1]}",
                          key="error.invalid_signature", fields={"signature": "canvas size out of range"})
    points = sum(len(s) for s in strokes)
    if len(strokes) > MAX_STROKES or points > MAX_POINTS:
        raise DomainError(ErrorKind.too_large, "signature-too-large", f"signature: at most {MAX_STROKES} strokes and {MAX_POINTS} points",
                          key="error.signature_too_large")
    if points < MIN_POINTS:
        raise DomainError(ErrorKind.invalid, "signature-empty", "signature: draw your signature first", key="error.signature_empty",
                          fields={"signature": "empty"})
    for stroke in strokes:
        for point in stroke:
            if len(point) != 2 or not (0 <= point[0] <= width and 0 <= point[1] <= height):
                raise DomainError(ErrorKind.invalid, "invalid-signature", "signature: each point is [x, y] inside the canvas",
                                  key="error.invalid_signature", fields={"signature": "point outside the canvas"})
    return Drawn(width, height, strokes)


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signed_content(document: SessionDocument) -> dict[str, Any]:
    """Everything the client's signature covers, as stored."""
    return {
        "v": 1, "code": document.code, "kind": document.kind, "version": document.version, "revision": document.revision,
        "office_id": document.office_id, "client_id": document.client_id, "session_id": document.session_id,
        "title": document.title, "body": document.body, "particulars": document.particulars,
        "signed_name": document.signed_name, "signature": document.signature,
        "signed_at": document.signed_at.isoformat() if document.signed_at else None,
        "user_agent": document.signed_user_agent, "address": document.signed_address,
    }


def content_hash(document: SessionDocument) -> str:
    return hashlib.sha256(_canonical(signed_content(document))).hexdigest()


def countersign_hash(document: SessionDocument) -> str:
    return hashlib.sha256(_canonical({
        "v": 1, "content_hash": document.content_hash, "by": document.countersigned_by_id, "name": document.countersigner_name,
        "nip": document.countersigner_nip, "at": document.countersigned_at.isoformat() if document.countersigned_at else None,
    })).hexdigest()


def _seal_message(what: str, digest: str) -> bytes:
    return f"bimbing document v1 {what}\n{digest}".encode()


def sign_by_client(document: SessionDocument, key: HeadSigner, *, name: str, drawn: Drawn, revision: int, user_agent: str, address: str) -> None:
    """The client's signature (the caller checked the pass and commits)."""
    _require_pending(document)
    if revision != document.revision:
        raise DomainError(ErrorKind.conflict, "document-changed", "The text changed while you read it; read it again and sign.",
                          key="error.document_changed", revision=document.revision)
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME_CHARS:
        raise DomainError(ErrorKind.invalid, "invalid-body", f"name: 1 to {MAX_NAME_CHARS} characters", key="error.signed_name",
                          fields={"name": "type your name"})
    document.signed_name = name
    document.signature = drawn.as_json()
    document.signed_at = utcnow().replace(microsecond=0)
    document.signed_user_agent = user_agent[:512]
    document.signed_address = address[:64]
    document.status = "signed"
    document.content_hash = content_hash(document)
    document.key_id = key.key_id
    document.seal = key.private.sign(_seal_message("signed", document.content_hash)).hex()


def countersign(document: SessionDocument, key: HeadSigner, staff: Staff) -> None:
    """The PK's countersignature, once, after the client's (the caller commits)."""
    if document.status == "pending":
        raise DomainError(ErrorKind.conflict, "document-not-signed", "The client has not signed yet.", key="error.document_not_signed")
    if document.status == "countersigned":
        raise DomainError(ErrorKind.conflict, "document-countersigned", "The document is already countersigned.", key="error.document_countersigned")
    document.countersigned_by_id = staff.id
    document.countersigner_name = staff.name
    document.countersigner_nip = staff.nip or ""
    document.countersigned_at = utcnow().replace(microsecond=0)
    document.status = "countersigned"
    document.countersign_hash = countersign_hash(document)
    document.countersign_seal = key.private.sign(_seal_message("countersigned", document.countersign_hash)).hex()


def _seal_holds(public: Ed25519PublicKey, seal: str | None, what: str, digest: str) -> bool:
    try:
        public.verify(bytes.fromhex(seal or ""), _seal_message(what, digest))
    except (InvalidSignature, ValueError):
        return False
    return True


def integrity(document: SessionDocument, public: Ed25519PublicKey | None) -> str:
    """``signed`` or ``countersigned`` when every stored fact still matches its
    hash and the key's seal; ``broken`` otherwise; ``pending`` before signing."""
    if document.status == "pending":
        return "pending"
    if public is None or document.key_id != key_id_of(public) or document.content_hash != content_hash(document):
        return "broken"
    if not _seal_holds(public, document.seal, "signed", document.content_hash or ""):
        return "broken"
    if document.status == "signed" and document.countersigned_at is None:
        return "signed"
    if document.status != "countersigned" or document.countersign_hash != countersign_hash(document):
        return "broken"
    return "countersigned" if _seal_holds(public, document.countersign_seal, "countersigned", document.countersign_hash or "") else "broken"


async def find_by_code(db: AsyncSession, code: str, public: Ed25519PublicKey | None) -> tuple[SessionDocument, str] | None:
    """The signed document behind a public code, only when it still holds."""
    if not code or len(code) > 64:
        return None
    document = await db.scalar(select(SessionDocument).where(SessionDocument.code == code))
    if document is None:
        return None
    state = integrity(document, public)
    return (document, state) if state in ("signed", "countersigned") else None


async def held(db: AsyncSession, document_id: int) -> SessionDocument | None:
    """The document, locked until the transaction ends, read again: its state is
    checked and changed as one step, so two signatures at once leave one (the
    other finds it signed) and a correction never lands on a signed text."""
    rows = await hold(db, SessionDocument, [document_id])
    return rows[0] if rows else None


async def session_documents(db: AsyncSession, session_id: int) -> list[SessionDocument]:
    return list((await db.execute(select(SessionDocument).where(SessionDocument.session_id == session_id).order_by(SessionDocument.id))).scalars())


def signature_paths(signature: dict[str, Any] | None) -> list[str]:
    """The strokes as SVG path data (numbers only: nothing a client typed)."""
    paths = []
    for stroke in (signature or {}).get("strokes", []):
        if stroke:
            first, *rest = stroke
            paths.append(f"M{int(first[0])} {int(first[1])}" + "".join(f"L{int(x)} {int(y)}" for x, y in (rest or [first])))
    return paths
