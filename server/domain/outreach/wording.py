"""What a reminder sent through the office's gateway says.

The gateway is a third party (an SMS or WhatsApp provider), and so is anyone
who reads the client's phone: a reminder that names the client, their PK, the
guidance or "terlambat wajib lapor 12 hari" tells them the client is under
criminal supervision (issue 23). So by default the gateway is sent one neutral
sentence that names nothing, and the client finds the rest behind their own
link (server/domain/outreach/portal.py). An office that has its clients'
consent may turn the full text on (``reminder_full_text``, kept in
``Office.settings["reminders"]``, changed with ``PUT /api/office/settings``).
The PK's own list and WhatsApp links keep the full text: the PK sends those
from their own phone, having read them.
"""

from __future__ import annotations

from server.db.models import Office
from server.domain.errors import invalid

NEUTRAL_TEXT = "Anda punya jadwal di Bapas; buka tautan Anda."
REMINDERS_KEY = "reminders"


def full_text_on(office: Office | None) -> bool:
    """Whether the office sends the gateway the full text (off unless it chose so)."""
    stored = ((office.settings or {}) if office is not None else {}).get(REMINDERS_KEY) or {}
    return stored.get("full_text") is True


def gateway_text(full_text: str, office: Office | None) -> str:
    return full_text if full_text_on(office) else NEUTRAL_TEXT


def set_full_text(office: Office, on: object) -> tuple[bool, bool]:
    """Turn the full text on or off; returns (old, new) for the audit trail.
    Validates before it touches the row."""
    if not isinstance(on, bool):
        raise invalid("reminder_full_text", "true or false")
    before = full_text_on(office)
    office.settings = {**(office.settings or {}), REMINDERS_KEY: {**((office.settings or {}).get(REMINDERS_KEY) or {}), "full_text": on}}
    return before, on
