"""The admin's view of the office settings that matter for calls and evidence.

Settings come from the environment (docs/deploy.md), not from this page: a
change to TURN or retention is an operator's act on the server, reviewed like
any deployment, so the page shows what is in force and where to change it.
Secrets are never shown, only whether they are set. The exceptions are the
office's own settings, which the office sets in the app, audited, the very
ones ``PUT /api/office/settings`` takes: its reporting rule
(``min_report_minutes``) and the quorum of a sidang TPP (``tpp_quorum``,
server/domain/record/rules.py), whether the gateway's reminders carry their
full text (``reminder_full_text``, server/domain/outreach/wording.py), and
guidance's stage intervals, reassessment period and need areas
(server/domain/guidance/settings.py).
"""

from __future__ import annotations

import re

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select

from server.db.ids import id_from_text
from server.db.models import Office, Role, Staff
from server.domain.access import require_role
from server.domain.errors import DomainError, ErrorKind
from server.domain.guidance.settings import (
    INTERVAL_RANGE,
    MAX_NEEDS,
    NEED_LENGTH,
    REASSESSMENT_RANGE,
    STAGES,
    guidance_settings,
)
from server.domain.office.staff import add_staff
from server.domain.outreach.wording import full_text_on
from server.domain.record.rules import (
    MIN_REPORT_MINUTES_RANGE,
    TPP_QUORUM_RANGE,
    rules_of,
)
from server.keys import audit_key, db_key, passwords_key, settings_key
from server.security import auth
from server.security.auth import current_staff
from server.security.passwords import MIN_LENGTH
from server.web.api.office import change_office_settings
from server.web.api.staff import StaffCreate, StaffUpdate
from server.web.errors import http_status
from server.web.format import duration
from server.web.forms import form_dict
from server.web.pages.page_errors import page_refusal
from server.web.render import error_text, gettext_for, locale_of, render
from server.web.staff_account import change_account
from server.web.validation import int_param, page_errors

routes = web.RouteTableDef()

# The catalogue keys of the rows, in the order shown (tests/test_i18n.py checks them).
SETTING_KEYS = (
    "settings.office", "settings.timezone", "settings.public_url", "settings.stun_urls", "settings.turn_urls",
    "settings.turn_secret", "settings.turn_ttl", "settings.join_window", "settings.min_video", "settings.abandoned",
    "settings.audit_retention", "settings.session_retention", "settings.audit_key", "settings.recordings_dir", "settings.redis",
)


@routes.get("/admin/settings")
async def settings_page(request: web.Request) -> web.Response:
    me = current_staff(request)
    require_role(me, Role.admin)
    return await _settings_page(request, me)


async def _settings_page(request: web.Request, me: Staff, error: str = "", form: dict | None = None, status: int = 200) -> web.Response:
    """The settings page; after a refused form, with its sentence and what was typed."""
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        office = await db.scalar(select(Office).where(Office.id == me.office_id))
    signer = request.app[audit_key].signer
    locale, t = locale_of(request), gettext_for(request)
    values = {
        "settings.office": office.name if office else "—",
        "settings.timezone": settings.timezone,
        "settings.public_url": settings.public_url or "—",
        "settings.stun_urls": ", ".join(settings.stun_urls) or "—",
        "settings.turn_urls": ", ".join(settings.turn_urls) or "—",
        "settings.turn_secret": "set" if settings.turn_secret else "unset",
        # Durations in the page's words ("730 hari", not "730 d"): server/web/format.py, by Babel.
        "settings.turn_ttl": duration(settings.turn_ttl_seconds, "second", locale),
        "settings.join_window": t("settings.join_window_value", before=duration(settings.join_opens_before_minutes, "minute", locale),
                                  after=duration(settings.join_expires_after_hours, "hour", locale)),
        "settings.min_video": duration(settings.min_video_minutes, "minute", locale),
        # Whole minutes in words; a fraction (tests use seconds) as seconds.
        "settings.abandoned": (duration(settings.abandoned_minutes, "minute", locale) if float(settings.abandoned_minutes).is_integer()
                               else duration(round(settings.abandoned_minutes * 60), "second", locale)),
        "settings.audit_retention": duration(settings.audit_retention_days, "day", locale),
        "settings.session_retention": duration(settings.session_retention_days, "day", locale),
        "settings.audit_key": signer.key_id if signer else "unset",
        "settings.recordings_dir": str(settings.recordings_dir),
        "settings.redis": "set" if settings.redis_url else "unset",
    }
    rows = [(key, values[key]) for key in SETTING_KEYS]
    guidance = guidance_settings(office)
    return render(request, "admin/settings.html", {
        "rows": rows, "turn_ok": settings.turn_enabled, "rules": rules_of(office, settings.timezone), "reminder_full_text": full_text_on(office),
        "guidance": guidance, "ranges": FORM_RANGES, "stages": STAGES, "rules_error": error, "rules_form": form,
    }, status=status)


# The form's whole-number fields and their ranges (a refusal's sentence is the catalogue's settings.error.<field>).
FORM_RANGES = {"min_report_minutes": MIN_REPORT_MINUTES_RANGE, "tpp_quorum": TPP_QUORUM_RANGE, "reassessment_days": REASSESSMENT_RANGE,
               **{f"stage_{s}": INTERVAL_RANGE for s in STAGES}}


def _rules_fields(form: dict) -> dict:
    """The office settings the form sends, as ``change_office_settings`` takes them;
    a field left empty (or not on the form) keeps its value. Raises a DomainError
    naming the field in the page's words."""
    fields: dict = {}
    for name, (low, high) in FORM_RANGES.items():
        text = str(form.get(name, "")).strip()
        if not text and name != "min_report_minutes":
            continue
        # ASCII digits only: int() would also read "١٢" or "²" (issue #12's lesson).
        if not re.fullmatch(r"[0-9]{1,4}", text) or not low <= int(text) <= high:
            raise DomainError(ErrorKind.invalid, "setting-out-of-range", f"{name}: whole numbers from {low} to {high}", key=f"settings.error.{name}",
                              params={"low": low, "high": high}, fields={name: f"{low} to {high}"})
        if name.startswith("stage_"):
            fields.setdefault("stage_intervals", {})[name.removeprefix("stage_")] = int(text)
        else:
            fields[name] = int(text)
    needs = [line.strip() for line in str(form.get("needs", "")).splitlines() if line.strip()]
    if "needs" in form:
        if not 1 <= len(needs) <= MAX_NEEDS or any(len(n) > NEED_LENGTH for n in needs) or len({n.casefold() for n in needs}) != len(needs):
            raise DomainError(ErrorKind.invalid, "setting-out-of-range", f"needs: 1 to {MAX_NEEDS} lines, each at most {NEED_LENGTH} characters, each once",
                              key="settings.error.needs", params={"max": MAX_NEEDS, "length": NEED_LENGTH}, fields={"needs": "invalid"})
        fields["needs"] = needs
    # A checkbox: absent is off.
    fields["reminder_full_text"] = form.get("reminder_full_text") == "on"
    return fields


@routes.post("/admin/settings/rules")
async def office_rules_submit(request: web.Request) -> web.Response:
    """The office's own settings, from the settings page (as ``PUT /api/office/settings``):
    the reporting rule, the TPP quorum, the reminders' full text, and guidance's
    stage intervals, reassessment period and need areas (one per line). A refusal
    shows the page again, at 400, with the sentence above the form and nothing saved."""
    me = current_staff(request)
    require_role(me, Role.admin, Role.supervisor)
    form = {k: v for k, v in form_dict(await request.post()).items() if isinstance(v, str)}
    try:
        fields = _rules_fields(form)
        async with request.app[db_key]() as db:
            office = await db.scalar(select(Office).where(Office.id == me.office_id))
            # Validates every field before it changes any (the domain's rule); nothing is committed on a refusal.
            changed = change_office_settings(office, request.app[settings_key].timezone, **fields)
            await db.commit()
    except DomainError as exc:
        if exc.kind != ErrorKind.invalid or me.role != Role.admin:
            raise
        message, status = page_refusal(request, exc)
        return await _settings_page(request, me, error=message, form=form, status=status)
    if changed:
        await request.app[audit_key].record("office.settings", actor=me, target_type="office", target_id=me.office_id,
                                            detail={k: {"old": old, "new": new} for k, (old, new) in changed.items()})
    raise web.HTTPFound("/admin/settings")


@routes.get("/admin/staff")
async def staff_page(request: web.Request) -> web.Response:
    me = auth.current_staff(request)
    require_role(me, Role.admin)
    async with request.app[db_key]() as db:
        rows = list((await db.execute(select(Staff).where(Staff.office_id == me.office_id).order_by(Staff.role, Staff.name))).scalars())
    return render(request, "admin/staff.html", {"rows": rows, "roles": list(Role), "errors": {}, "form": {}})


@routes.post("/admin/staff")
async def staff_submit(request: web.Request) -> web.Response:
    me = auth.current_staff(request)
    require_role(me, Role.admin)
    form = form_dict(await request.post())
    try:
        body = StaffCreate.model_validate(form)
    except ValidationError as exc:
        return await _staff_page(request, me, page_errors(exc, gettext_for(request)), status=400, form=form)
    # In the worker pool, before the database is opened (server/security/passwords.py).
    password_hash = await request.app[passwords_key].hash(body.password)
    try:
        async with request.app[db_key]() as db:
            staff = await add_staff(db, me.office_id, body.username, body.name, body.role, password_hash, nip=body.nip)
            await db.commit()
    except DomainError as exc:
        return await _staff_page(request, me, {"form": error_text(request, exc)}, status=http_status(exc), form=form)
    await request.app[audit_key].record("staff.create", actor=me, target_type="staff", target_id=staff.id, detail={"username": staff.username, "role": staff.role.value})
    raise web.HTTPFound("/admin/staff")


# The admin's three changes to an account (issue #12, finding 5); each ends that
# staff member's sign-ins and calls (server/web/staff_account.py) and is audited.
ACTIONS = {
    "deactivate": lambda form: {"active": False},
    "reactivate": lambda form: {"active": True},
    "role": lambda form: {"role": Role(form.get("role", ""))},
    "reset-password": lambda form: {"password": _temporary_password(form.get("password", ""))},
    "nip": lambda form: {"nip": _nip(form.get("nip", ""))},
}


def _temporary_password(value: str) -> str:
    if not MIN_LENGTH <= len(value) <= 1024:
        raise ValueError(f"password: at least {MIN_LENGTH} characters")
    return value


def _nip(value) -> str:
    """The NIP as PATCH /api/staff/{id} takes it (digits and spaces, at most 30;
    empty clears it): one rule, the API's model."""
    if not isinstance(value, str):  # a file sent as "nip"
        raise NipInvalid()
    value = value.strip()
    try:
        StaffUpdate.model_validate({"nip": value})
    except ValidationError:
        raise NipInvalid() from None
    return value


class NipInvalid(ValueError):
    pass


@routes.post("/admin/staff/{id}")
async def staff_change(request: web.Request) -> web.Response:
    me = auth.current_staff(request)
    require_role(me, Role.admin)
    form = form_dict(await request.post())
    staff_id = int_param(request, "id")
    try:
        changes = ACTIONS[form.get("action", "")](form)
    except NipInvalid:
        # Beside the staff member's own NIP field, what was typed kept.
        return await _staff_page(request, me, {"nip_row": staff_id, "nip": gettext_for(request)("staffadmin.nip_invalid")}, status=400, form={"nip": form.get("nip", "")})
    except (KeyError, ValueError) as exc:
        message = str(exc) if isinstance(exc, ValueError) and "password" in str(exc) else "action: one of deactivate, reactivate, role, reset-password, nip"
        return await _staff_page(request, me, {"form": message}, status=400)
    try:
        await change_account(request, me, staff_id, **changes)
    except DomainError as exc:
        return await _staff_page(request, me, {"form": exc.message}, status=http_status(exc))
    raise web.HTTPFound(f"/admin/staff#staff-{staff_id}")


async def _staff_page(request: web.Request, me: Staff, errors: dict, status: int, form: dict | None = None) -> web.Response:
    """The staff page again with what was refused; a typed password is never sent back."""
    async with request.app[db_key]() as db:
        rows = list((await db.execute(select(Staff).where(Staff.office_id == me.office_id).order_by(Staff.role, Staff.name))).scalars())
    shown = {k: v for k, v in (form or {}).items() if k != "password"}
    return render(request, "admin/staff.html", {"rows": rows, "roles": list(Role), "errors": errors, "form": shown}, status=status)


@routes.get("/admin/areas")
async def areas_page(request: web.Request) -> web.Response:
    """The working area, and the clients whose kelurahan is not in it (to fix)."""
    me = current_staff(request)
    require_role(me, Role.admin, Role.supervisor)
    from server.domain.office.areas import kelurahan_list, unmatched_clients

    async with request.app[db_key]() as db:
        kelurahan = await kelurahan_list(db, me.office_id)
        unmatched = await unmatched_clients(db, me.office_id)
    return render(request, "admin/areas.html", {"kelurahan": kelurahan, "unmatched": unmatched})


@routes.post("/admin/areas/clients/{id}")
async def fix_client_kelurahan(request: web.Request) -> web.Response:
    """Put a client whose typed kelurahan matched nothing into one of the area's."""
    me = current_staff(request)
    require_role(me, Role.admin, Role.supervisor)
    from server.db.models import Area, AreaLevel, Client
    from server.domain.errors import not_found
    from server.web.validation import int_param

    form = await request.post()
    raw_area = str(form.get("area_id", ""))
    async with request.app[db_key]() as db:
        client = await db.get(Client, int_param(request, "id"))
        if client is None or client.office_id != me.office_id:
            raise not_found("client")
        area_id = id_from_text(raw_area)
        area = await db.get(Area, area_id) if area_id is not None else None
        if area is None or area.office_id != me.office_id or area.level != AreaLevel.kelurahan:
            raise DomainError(ErrorKind.invalid, "unknown-kelurahan", "area_id: not a kelurahan of the working area", key="error.unknown_kelurahan")
        old = client.kelurahan
        client.area_id, client.kelurahan = area.id, area.name
        await db.commit()
    await request.app[audit_key].record("client.kelurahan_fix", actor=me, target_type="client", target_id=client.id, detail={"old": old, "new": area.name})
    raise web.HTTPFound("/admin/areas")
