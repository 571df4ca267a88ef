"""Letters the office issues about a client, and how anyone checks them.

A letter is registered (a row, never deleted, and an audit entry made by the
caller), numbered from the office's sequence for the year, and signed with
Ed25519. The private key lives outside the database, handled exactly as the
audit heads' key is (server/audit/signing.py: PEM file, 0600, generated
outside production only, public key beside it as ``<path>.pub``), so someone
who can write to the database cannot forge or alter a letter: the signature
covers every printed fact that the public page repeats and, from statement
version 2 on, everything else the letter printed (``printed``).

A letter says only what is true on the day it is issued, and keeps saying it:
its attendance figures come from the ledger (server/domain/record/ledger.py)
as of the issue date, a summons (``panggilan``) for a client who is not overdue
needs a reason printed on it, the signer's title follows their role, and what
the letter printed (letterhead, client, figures, reason) is stored with it so
that a later change to the office profile or the client changes no issued letter.

The public page ``/v/{code}`` takes a random code (the QR code's link). An
unknown code, or a row whose signature no longer matches, is answered as not
found: the page never vouches for anything the key did not sign.

A revocation is signed too, by the same key (issue 23: before, ``revoked_at``
was a bare column that anyone with write access to the database could move,
clear or forge). Its statement (``revocation_message``) names the letter by
the facts the public page shows (code, number, kind, date, office) and says
when it was revoked; it holds nothing the public page does not already show, so
the page prints it with its signature and anyone with ``letter-signing.key.pub``
can check it offline (docs/api.md, "Checking a revocation offline"). A row
that claims a revocation its signature does not carry (an edited date, a
signature that does not match, a revocation written in by hand) is
``unverified``: the page then says the letter cannot be relied on, never that
it is valid.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.signing import HeadSigner, key_id_of, public_path
from server.db.locks import hold
from server.db.models import AuditEntry, Client, Letter, LetterKind, Office, Role, Staff
from server.domain.access import require_guidance
from server.domain.errors import DomainError, ErrorKind
from server.domain.office.profile import OfficeProfile, office_profile
from server.domain.record.clients import client_sessions
from server.domain.record.ledger import Attendance, attendance
from server.domain.record.rules import rules_of
from server.settings import Settings

# Short codes printed in the number, as Indonesian offices abbreviate letter types.
KIND_CODES = {LetterKind.keterangan: "SK", LetterKind.panggilan: "SP", LetterKind.selesai: "SKSB", LetterKind.kerja_sosial_selesai: "SKKS",
              LetterKind.perkembangan: "LPK",
              # A violation's path and its sitting (server/domain/violations/).
              LetterKind.teguran_1: "ST-I", LetterKind.teguran_2: "ST-II", LetterKind.bap: "BAP", LetterKind.risalah_tpp: "RTPP",
              LetterKind.pencabutan_kanwil: "PCB-KW", LetterKind.pencabutan_kejari: "PCB-KJ"}
# Letters a person issues by hand (``POST /api/clients/{id}/letters``); the rest
# are issued by a violation's steps and a sitting's close, with the facts they print.
HAND_KINDS = (LetterKind.keterangan, LetterKind.panggilan, LetterKind.selesai, LetterKind.kerja_sosial_selesai, LetterKind.perkembangan)
ROMAN_MONTHS = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")


def key_path(settings: Settings) -> Path:
    return Path(settings.letter_signing_key_path or Path(settings.data_dir) / "letter-signing.key")


def load_signer(settings: Settings) -> HeadSigner:
    return HeadSigner.load(key_path(settings), create=not settings.production, what="letter signing key")


def load_public_key(settings: Settings) -> Ed25519PublicKey | None:
    """The public key alone (``<path>.pub``), as a verifier outside the server holds it."""
    from cryptography.hazmat.primitives import serialization

    pub = public_path(key_path(settings))
    if not pub.exists():
        return None
    key = serialization.load_pem_public_key(pub.read_bytes())
    return key if isinstance(key, Ed25519PublicKey) else None


class LetterKeys:
    """The letter key, loaded on first use (a server that never issues a letter
    never needs one) and kept for the app's life; held under an AppKey."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._signer: HeadSigner | None = None

    def signer(self) -> HeadSigner:
        if self._signer is None:
            self._signer = load_signer(self.settings)
        return self._signer

    def public(self) -> Ed25519PublicKey | None:
        if self._signer is not None:
            return self._signer.public
        return load_public_key(self.settings)


def initials(name: str) -> str:
    """ "Rudi Hartono" → "R. H.": enough for the holder to recognise, nothing more."""
    parts = [p for p in name.replace(".", " ").split() if p[:1].isalpha()]
    return " ".join(p[0].upper() + "." for p in parts[:4]) or "—"


def letter_number(prefix: str, seq: int, kind: LetterKind, day: date) -> str:
    """ "W10.PAS.PAS.10-PK.01.05-0007/SK/XII/2026": the office's prefix, the
    year's running number, the kind, the month in Roman numerals and the year."""
    return f"{prefix}-{seq:04d}/{KIND_CODES[kind]}/{ROMAN_MONTHS[day.month - 1]}/{day.year}"


# ``printed["version"]``: 2 is the first whose signed statement covers ``printed``.
# Letters issued before it have no ``printed`` (migration 0010) and keep their
# version 1 statement, which still verifies as it always did.
PRINTED_VERSION = 2
REASON_MAX = 500


def letter_message(letter: Letter) -> bytes:
    """The signed statement: canonical JSON of every fact the letter and its
    public page show, so none of them can be edited without breaking it.
    Version 1 (no ``printed``): the ten fields below. Version 2 adds ``printed``
    whole (it carries ``"version": 2``); turning a version 2 letter into a
    version 1 one changes the statement, so the signature no longer holds."""
    fields = {
        "code": letter.code,
        "number": letter.number,
        "kind": letter.kind.value if isinstance(letter.kind, LetterKind) else str(letter.kind),
        "issued_on": letter.issued_on.isoformat(),
        "office": letter.office_name,
        "client_initials": letter.client_initials,
        "client_id": letter.client_id,
        "signer_name": letter.signer_name,
        "signer_nip": letter.signer_nip,
        "key_id": letter.key_id,
    }
    printed = letter.printed or {}
    if printed.get("version", 1) >= PRINTED_VERSION:
        fields["printed"] = printed
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature_valid(letter: Letter, public: Ed25519PublicKey) -> bool:
    if letter.key_id != key_id_of(public):
        return False
    try:
        public.verify(bytes.fromhex(letter.signature), letter_message(letter))
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Signer:
    name: str
    nip: str
    title: str  # a key of SIGNER_TITLES' values or "head": the catalogue's letter.signer_title.<title>


# The title under the signature follows the signer's role (issue 18: a letter
# signed by the Kasie called them "Pembimbing Kemasyarakatan"). The Kepala Bapas
# is "head"; a supervisor is a Kepala Seksi; an admin signs as the office's staff.
SIGNER_TITLES = {Role.pk: "officer", Role.supervisor: "section_head", Role.admin: "staff"}


def choose_signer(office: Office, staff: Staff) -> Signer:
    """The Kepala Bapas from the office profile when the admin has entered one,
    else the staff member who issues the letter, titled by their role."""
    profile = office_profile(office)
    if profile.head_name:
        return Signer(profile.head_name, profile.head_nip, "head")
    return Signer(staff.name, staff.nip or "", SIGNER_TITLES[staff.role])


def attendance_facts(att: Attendance, as_of: date) -> dict:
    """What a letter prints about wajib lapor: the ledger's periods as of the
    issue date, and the state (a summons says "belum memenuhi wajib lapor" only
    when it is "overdue"). Whole numbers only: the statement is signed as JSON."""
    return {"as_of": as_of.isoformat(), "state": att.state, "periods_due": att.periods_due, "periods_met": att.periods_met,
            "periods": {k: int(v) for k, v in att.periods.items()}}


def printed_facts(profile: OfficeProfile, client: Client, att: Attendance, today: date, reason: str) -> dict:
    """Everything the letter prints beyond its columns (number, office name,
    signer, initials), as the letter will keep it."""
    return {
        "version": PRINTED_VERSION,
        "office": {"address": profile.address, "phone": profile.phone, "email": profile.email, "logo_path": profile.logo_path},
        "client": {
            "name": client.name, "register_number": client.register_number, "program": client.program.value,
            "supervision_start": client.supervision_start.isoformat(), "supervision_end": client.supervision_end.isoformat(),
        },
        "attendance": attendance_facts(att, today),
        "reason": reason,
    }


def clean_reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if len(text) > REASON_MAX:
        raise DomainError(ErrorKind.invalid, "invalid-body", f"reason: at most {REASON_MAX} characters", fields={"reason": f"at most {REASON_MAX} characters"})
    return text


async def issue_letter(
    db: AsyncSession, signer_key: HeadSigner, staff: Staff, client: Client, kind: LetterKind, today: date, tz: str, reason: str | None = None,
    extra: dict | None = None,
) -> Letter:
    """Number, sign and store a letter (the caller commits and audits).
    The number is the year's next in the office, taken under the office's lock,
    so letters issued at the same moment take the next numbers one after the
    other; the unique (office, year, seq) is the backstop for any other writer
    (its loser tries the next).
    A summons for a client who is not overdue (by the ledger, today) is refused
    unless ``reason`` says why; the reason is printed. ``extra`` adds facts the
    letter prints and keeps (a completion letter's hours: ``service_hours``; a
    violation's, a sitting's decision), signed with the rest. An admin issues
    none: a letter is a document of guidance, signed in a PK's or supervisor's name."""
    require_guidance(staff)
    reason = clean_reason(reason)
    office = await db.get(Office, client.office_id)
    att = attendance(client, await client_sessions(db, client.id), today, rules_of(office, tz))
    if kind == LetterKind.panggilan and att.state != "overdue" and not reason:
        raise DomainError(
            ErrorKind.conflict, "not-overdue", "The client is not overdue; a summons needs a reason (field reason).",
            key="error.not_overdue", state=att.state,
        )
    printed = {**printed_facts(office_profile(office), client, att, today, reason), **(extra or {})}
    return await _register(db, signer_key, staff, office, kind, today, printed, client)


async def issue_office_letter(db: AsyncSession, signer_key: HeadSigner, staff: Staff, office: Office, kind: LetterKind, today: date, facts: dict) -> Letter:
    """A letter of the office about no single client (the risalah of a sidang
    TPP): the letterhead and ``facts`` printed and signed, numbered as any letter."""
    profile = office_profile(office)
    printed = {"version": PRINTED_VERSION, "office": {"address": profile.address, "phone": profile.phone, "email": profile.email, "logo_path": profile.logo_path},
               **facts}
    return await _register(db, signer_key, staff, office, kind, today, printed, None)


async def _register(db: AsyncSession, signer_key: HeadSigner, staff: Staff, office: Office, kind: LetterKind, today: date, printed: dict,
                    client: Client | None) -> Letter:
    profile = office_profile(office)
    signer = choose_signer(office, staff)
    prefix = profile.letter_prefix or profile.name
    await hold(db, Office, [office.id])
    for _attempt in range(5):
        last = await db.scalar(select(func.max(Letter.seq)).where(Letter.office_id == office.id, Letter.year == today.year))
        seq = (last or 0) + 1
        letter = Letter(
            office_id=office.id, client_id=client.id if client else None, kind=kind, year=today.year, seq=seq,
            number=letter_number(prefix, seq, kind, today), issued_on=today, issued_at=datetime.now(timezone.utc),
            signer_name=signer.name, signer_nip=signer.nip, signer_title=signer.title, office_name=profile.name,
            client_initials=initials(client.name) if client else "", code=secrets.token_urlsafe(18), key_id=signer_key.key_id,
            signature="", created_by_id=staff.id, printed=printed,
        )
        letter.signature = signer_key.private.sign(letter_message(letter)).hex()
        try:
            async with db.begin_nested():
                db.add(letter)
            return letter
        except IntegrityError:
            continue
    raise DomainError(ErrorKind.conflict, "letter-number-busy", "Could not take a letter number; try again.")


REVOCATION_STATEMENT = "letter-revocation"


def revoked_at_text(moment: datetime) -> str:
    """The instant as the statement writes it: UTC, to the second, ``Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def revocation_message(letter: Letter) -> bytes:
    """The signed revocation: canonical JSON (keys sorted, no spaces, UTF-8) of
    the letter as the public page shows it and the moment it was revoked. The
    ``statement`` field keeps it from ever reading as a letter's own statement."""
    fields = {
        "statement": REVOCATION_STATEMENT,
        "code": letter.code,
        "number": letter.number,
        "kind": letter.kind.value if isinstance(letter.kind, LetterKind) else str(letter.kind),
        "issued_on": letter.issued_on.isoformat(),
        "office": letter.office_name,
        "revoked_at": revoked_at_text(letter.revoked_at) if letter.revoked_at is not None else None,
        "key_id": letter.revocation_key_id,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# What a letter's row says of its revocation, once its signature is checked.
NOT_REVOKED, REVOKED_SIGNED, REVOKED_UNVERIFIED = "none", "signed", "unverified"


def revocation_state(letter: Letter, public: Ed25519PublicKey | None) -> str:
    """``none`` (no trace of a revocation), ``signed`` (revoked, and the key
    signed exactly this revocation) or ``unverified`` (the row claims a
    revocation, or keeps a piece of one, that the key did not sign)."""
    if letter.revoked_at is None and not letter.revocation_signature and not letter.revocation_key_id:
        return NOT_REVOKED
    if letter.revoked_at is None or not letter.revocation_signature or public is None or letter.revocation_key_id != key_id_of(public):
        return REVOKED_UNVERIFIED
    try:
        public.verify(bytes.fromhex(letter.revocation_signature), revocation_message(letter))
    except (InvalidSignature, ValueError):
        return REVOKED_UNVERIFIED
    return REVOKED_SIGNED


async def revoke_letter(db: AsyncSession, signer_key: HeadSigner, staff: Staff, letter: Letter) -> bool:
    """Revoke it and sign the revocation; False when it already was (idempotent,
    the first revocation and its signature stay, also when two revocations come
    at once: the second reads the first under the letter's lock)."""
    require_guidance(staff)
    await hold(db, Letter, [letter.id])
    if letter.revoked_at is not None:
        return False
    # To the second: the statement writes the instant so, and the column must say the same.
    letter.revoked_at = datetime.now(timezone.utc).replace(microsecond=0)
    letter.revoked_by_id = staff.id
    letter.revocation_key_id = signer_key.key_id
    letter.revocation_signature = signer_key.private.sign(revocation_message(letter)).hex()
    return True


async def sign_recorded_revocations(db: AsyncSession, signer_key: HeadSigner) -> tuple[list[Letter], list[Letter]]:
    """Sign the revocations made before migration 0014, once, from the audit trail
    (``bimbing letters sign-revocations``; the caller checks the trail is intact,
    commits and audits). A letter is signed as revoked at the moment of its first
    ``letter.revoke`` entry, whatever its row says; a row revoked with no such
    entry (written in by hand) is left unsigned. Returns (signed, left)."""
    rows = list((await db.execute(
        select(Letter).where(Letter.revoked_at.is_not(None), Letter.revocation_signature.is_(None)).order_by(Letter.id)
    )).scalars())
    if not rows:
        return [], []
    entries = await db.execute(
        select(AuditEntry.target_id, AuditEntry.at)
        .where(AuditEntry.action == "letter.revoke", AuditEntry.target_type == "letter", AuditEntry.target_id.in_([str(r.id) for r in rows]))
        .order_by(AuditEntry.seq)
    )
    first: dict[str, datetime] = {}
    for target_id, at in entries:
        first.setdefault(target_id, at)
    signed, left = [], []
    for letter in rows:
        at = first.get(str(letter.id))
        if at is None:
            left.append(letter)
            continue
        letter.revoked_at = at.replace(microsecond=0)
        letter.revocation_key_id = signer_key.key_id
        letter.revocation_signature = signer_key.private.sign(revocation_message(letter)).hex()
        signed.append(letter)
    return signed, left


async def find_by_code(db: AsyncSession, code: str, public: Ed25519PublicKey | None) -> Letter | None:
    """The letter behind a public code, only when its signature still holds."""
    if not code or len(code) > 64:
        return None
    letter = await db.scalar(select(Letter).where(Letter.code == code))
    if letter is None or public is None or not signature_valid(letter, public):
        return None
    return letter
