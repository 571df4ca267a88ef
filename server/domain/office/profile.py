"""The office's own particulars: what letters, the client's page and printed
reports show about the office (name, address, phone, letterhead logo).

They live in ``Office.settings["profile"]`` so that an admin edits them in the
app, without a deployment; settings that govern the server stay in the
environment (docs/deploy.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from server.db.models import Office
from server.domain.errors import invalid

PROFILE_KEY = "profile"
FIELDS = {"address": 300, "phone": 40, "email": 120, "logo_path": 300, "letter_prefix": 60, "head_name": 200, "head_nip": 30}


@dataclass(frozen=True)
class OfficeProfile:
    name: str
    address: str = ""
    phone: str = ""
    email: str = ""
    # A file in the data folder (an admin's upload or a path set by the operator); empty: no logo.
    logo_path: str = ""
    # The office's letter numbering prefix, e.g. "W10.PAS.PAS.10-PK.01.05"; empty: the office's name.
    letter_prefix: str = ""
    # The Kepala Bapas, who signs letters and reports by default.
    head_name: str = ""
    head_nip: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def office_profile(office: Office) -> OfficeProfile:
    stored = (office.settings or {}).get(PROFILE_KEY) or {}
    return OfficeProfile(name=office.name, **{k: str(stored.get(k, "")) for k in FIELDS})


def update_profile(office: Office, **changes: str) -> tuple[OfficeProfile, dict[str, tuple[str, str]]]:
    """Apply ``changes`` (a subset of FIELDS, plus ``name``); return the new
    profile and what changed (field → (old, new)) for the audit trail."""
    before = office_profile(office)
    for field_name, value in changes.items():
        limit = 200 if field_name == "name" else FIELDS.get(field_name)
        if limit is None:
            raise invalid(field_name, "unknown field")
        if len(value) > limit:
            raise invalid(field_name, f"at most {limit} characters")
    if "name" in changes and not changes["name"].strip():
        raise invalid("name", "required")
    after = replace(before, **{k: v.strip() for k, v in changes.items()})
    office.name = after.name
    office.settings = {**(office.settings or {}), PROFILE_KEY: {k: getattr(after, k) for k in FIELDS}}
    changed = {k: (getattr(before, k), getattr(after, k)) for k in ("name", *FIELDS) if getattr(before, k) != getattr(after, k)}
    return after, changed
