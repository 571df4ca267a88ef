"""The API's OpenAPI 3.1 document, built from the pydantic models that validate
the requests (the same classes ``parse_body`` and the query parsers use), so
the document cannot say something the server does not check.

``OPERATIONS`` names, for every ``/api/`` route, its summary, the model of its
JSON body and the model of its query; tests/test_openapi.py fails when a route
is missing from it. Path ids are the positive integers ``int_param`` accepts.
Answers are described by their shape only where it is one for all: every
refusal is the ``Error`` object (docs/api.md, "Errors").
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from server import __version__ as VERSION
from server.db.ids import MAX_ID
from server.web.api.audit import AnomalyQuery, RangeQuery, SessionLogQuery, TrailQuery
from server.web.api.auth import LoginBody, PasswordChange
from server.web.api.clients import ClientCreate
from server.web.api.documents import DocumentCreate, DocumentSign, DocumentUpdate
from server.web.api.evaluation import EvaluationQuery
from server.web.api.field_sessions import SessionComplete
from server.web.api.guidance import (
    AssessmentCreate,
    PlanApprove,
    PlanQuery,
    PlanSave,
    StageMove,
)
from server.web.api.home_visits import VisitPlan
from server.web.api.kendala import KendalaAnswer, KendalaReport
from server.web.api.letters import LetterCreate
from server.web.api.mobile_events import (
    CadenceUpdate,
    CheckIn,
    EventCreate,
    EventUpdate,
    InvitationAdd,
)
from server.web.api.office import OfficeSettingsUpdate
from server.web.api.partners import PartnerCreate, PartnerUpdate, SiteLinkCreate
from server.web.api.referrals import ReferralCreate, ReferralStepBody
from server.web.api.sentences import HoursDecision, HoursEntry, SentenceBody
from server.web.api.guests import GuestCreate
from server.web.api.sessions import SessionCreate, SessionUpdate
from server.web.api.staff import StaffCreate, StaffUpdate
from server.web.api.tpp import CaseDecision, SittingCreate
from server.web.api.violations import AlertConfirm, AlertDismiss, StepCreate, ViolationCreate

REF = "#/components/schemas/{model}"


class Op:
    def __init__(self, summary: str, *, body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
                 public: bool = False, created: bool = False, links: dict[str, dict] | None = None):
        self.summary, self.body, self.query, self.public, self.created, self.links = summary, body, query, public, created, links or {}


def _id_link(operation: str) -> dict:
    return {"operationId": operation, "parameters": {"id": "$response.body#/id"}}


OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/api/login"): Op("Sign in (sets the session cookie)", body=LoginBody, public=True),
    ("POST", "/api/logout"): Op("Sign out"),
    ("GET", "/api/me"): Op("The signed-in staff member"),
    ("POST", "/api/me/password"): Op("Choose a new password", body=PasswordChange),
    ("GET", "/api/clients"): Op("The caseload the caller may see"),
    ("POST", "/api/clients"): Op("Add a client", body=ClientCreate, created=True, links={
        "client": _id_link("get_api_clients_id"), "record": _id_link("get_api_clients_id_record"),
    }),
    ("GET", "/api/clients/{id}"): Op("One client"),
    ("GET", "/api/clients/{id}/record"): Op("The client's supervision record"),
    ("POST", "/api/clients/{id}/stage"): Op("Move the client to a stage early or late (a stage not begun yet)", body=StageMove),
    ("GET", "/api/clients/{id}/assessments"): Op("The client's assessments, oldest first, and whether a reassessment is due"),
    ("POST", "/api/clients/{id}/assessments"): Op("Record an assessment (RRI category, needs)", body=AssessmentCreate, created=True),
    ("GET", "/api/clients/{id}/plan"): Op("The client's case plan: the latest version, or ?version=n", query=PlanQuery),
    ("PUT", "/api/clients/{id}/plan"): Op("Save the case plan (the draft, or the next version after a countersigned one)", body=PlanSave),
    ("POST", "/api/clients/{id}/plan/approve"): Op("Countersign the latest version of the case plan (supervisor)", body=PlanApprove),
    ("POST", "/api/sessions"): Op("Log, schedule or start a session", body=SessionCreate, created=True, links={
        "session": _id_link("get_api_sessions_id"), "update": _id_link("patch_api_sessions_id"),
        "end": _id_link("post_api_sessions_id_end"), "reissue": _id_link("post_api_sessions_id_link"),
        "revoke": _id_link("delete_api_sessions_id_link"), "history": _id_link("get_api_sessions_id_history"),
    }),
    ("GET", "/api/sessions/{id}"): Op("One session with its events"),
    ("PATCH", "/api/sessions/{id}"): Op("Notes, outcome, topics", body=SessionUpdate),
    ("POST", "/api/sessions/{id}/end"): Op("End the session"),
    ("GET", "/api/sessions/{id}/history"): Op("Versions of the notes"),
    ("GET", "/api/sessions/{id}/chat"): Op("The text line of the call (PK and supervisors)"),
    # documents signed in the call (issue 22)
    ("POST", "/api/sessions/{id}/documents"): Op("Push a document from an office template to the client in the call", body=DocumentCreate, created=True),
    ("GET", "/api/sessions/{id}/documents"): Op("The session's documents"),
    ("GET", "/api/sessions/{id}/documents/{doc_id}"): Op("One document, with its integrity"),
    ("PATCH", "/api/sessions/{id}/documents/{doc_id}"): Op("Correct a pending document's text (409 once signed)", body=DocumentUpdate),
    ("POST", "/api/sessions/{id}/documents/{doc_id}/push"): Op("Put a pending document on the client's screen again"),
    ("POST", "/api/sessions/{id}/documents/{doc_id}/countersign"): Op("The PK countersigns a signed document"),
    ("GET", "/api/join/documents/{doc_id}"): Op("The client reads a pushed document (join pass)", public=True),
    ("POST", "/api/join/documents/{doc_id}/sign"): Op("The client signs a pushed document (join pass)", body=DocumentSign, public=True, created=True),
    ("POST", "/api/sessions/{id}/guests"): Op("Issue a guest link: a third person in the call", body=GuestCreate, created=True),
    ("GET", "/api/sessions/{id}/guests"): Op("The session's guests, with who attended from when to when"),
    ("DELETE", "/api/sessions/{id}/guests/{guest_id}"): Op("Revoke a guest link (closes the guest's live connection)"),
    ("POST", "/api/sessions/{id}/link"): Op("Revoke the join links and issue a new one"),
    ("DELETE", "/api/sessions/{id}/link"): Op("Revoke the join links"),
    ("GET", "/api/sessions/{id}/recordings"): Op("The session's recordings"),
    ("GET", "/api/staff"): Op("Staff of the office"),
    ("POST", "/api/staff"): Op("Add a staff member (admin)", body=StaffCreate, created=True, links={"update": _id_link("patch_api_staff_id")}),
    ("PATCH", "/api/staff/{id}"): Op("Change a staff member (admin)", body=StaffUpdate),
    ("GET", "/api/audit/sessions"): Op("The session log (JSON or CSV)", query=SessionLogQuery),
    ("GET", "/api/audit/clients"): Op("Attendance per client", query=AnomalyQuery),
    ("GET", "/api/audit/officers"): Op("Statistics per PK", query=RangeQuery),
    ("GET", "/api/audit/anomalies"): Op("Anomalies", query=AnomalyQuery),
    ("GET", "/api/audit/verify"): Op("Verify the audit trail"),
    ("GET", "/api/audit/trail"): Op("The audit trail", query=TrailQuery),
    ("POST", "/api/join/kendala"): Op("A client reports a kendala (join pass)", body=KendalaReport, public=True),
    ("GET", "/api/join/kendala"): Op("The client's own kendala (join pass)", public=True),
    ("GET", "/api/clients/{id}/kendala"): Op("A client's kendala"),
    ("POST", "/api/kendala/{id}/answer"): Op("Answer a kendala", body=KendalaAnswer),
    ("GET", "/api/openapi.json"): Op("This document", public=True),
    # field work (docs/api.md, "Field work")
    ("POST", "/api/sessions/{id}/complete"): Op("Finish a scheduled non-video session", body=SessionComplete),
    ("POST", "/api/sessions/{id}/phone-fallback"): Op("Continue a failed video session by phone or WhatsApp", created=True),
    ("GET", "/api/mobile-events/plan"): Op("Proposed mobile-counseling days (?from=YYYY-MM-DD&count=N)"),
    ("GET", "/api/office/settings"): Op("The office's own settings (min_report_minutes, reminder_full_text)"),
    ("PUT", "/api/office/settings"): Op("Change the office's settings (supervisor, admin)", body=OfficeSettingsUpdate),
    ("GET", "/api/mobile-events/cadence"): Op("The office's mobile-counseling cadence"),
    ("PUT", "/api/mobile-events/cadence"): Op("Change the cadence (supervisor, admin)", body=CadenceUpdate),
    ("POST", "/api/mobile-events"): Op("Plan a mobile-counseling day and invite its clients", body=EventCreate, created=True),
    ("GET", "/api/mobile-events"): Op("Mobile-counseling days in a range (?from=&to=)"),
    ("GET", "/api/mobile-events/{id}"): Op("One mobile-counseling day with its invited and checked-in clients"),
    ("PATCH", "/api/mobile-events/{id}"): Op("Move or change a mobile-counseling day", body=EventUpdate),
    ("POST", "/api/mobile-events/{id}/cancel"): Op("Cancel a mobile-counseling day"),
    ("POST", "/api/mobile-events/{id}/invitations"): Op("Invite a client", body=InvitationAdd),
    ("DELETE", "/api/mobile-events/{id}/invitations/{client_id}"): Op("Remove an invitation"),
    ("POST", "/api/mobile-events/{id}/checkins"): Op("Check a client in (idempotent by key)", body=CheckIn, created=True),
    ("POST", "/api/mobile-events/{id}/checkins/{session_id}/undo"): Op("Undo a check-in the same day"),
    ("GET", "/api/mobile-events/{id}/roster"): Op("The roll-call roster"),
    ("POST", "/api/home-visits"): Op("Plan a home visit", body=VisitPlan, created=True),
    ("GET", "/api/home-visits"): Op("A day's home visits (?date=YYYY-MM-DD)"),
    ("GET", "/api/areas"): Op("The office's kelurahan"),
    ("GET", "/api/areas/unmatched"): Op("Clients whose kelurahan is not in the area"),
    # the client's link and reminders (docs/api.md)
    ("POST", "/api/clients/{id}/portal-link"): Op("Issue the client's own link", created=True),
    ("DELETE", "/api/clients/{id}/portal-link"): Op("Revoke the client's own link"),
    ("GET", "/api/reminders"): Op("The day's reminders (?date=YYYY-MM-DD)"),
    ("POST", "/api/reminders/{id}/sent"): Op("Mark a reminder sent"),
    ("GET", "/api/notify/outbox"): Op("The reminder gateway's outbox of the caller's office (admin, supervisor)"),
    # letters and evaluation
    ("POST", "/api/clients/{id}/letters"): Op("Issue a letter", body=LetterCreate, created=True),
    ("GET", "/api/clients/{id}/letters"): Op("A client's letters"),
    ("DELETE", "/api/letters/{id}"): Op("Revoke a letter"),
    ("GET", "/api/reports/evaluation"): Op("The office's evaluation over months", query=EvaluationQuery),
    # partners, referrals and sentences (docs/api.md, "Partners, referrals and sentences")
    ("GET", "/api/partners"): Op("The office's partners (mitra)"),
    ("POST", "/api/partners"): Op("Add a partner (supervisor)", body=PartnerCreate, created=True),
    ("GET", "/api/partners/{id}"): Op("One partner"),
    ("PATCH", "/api/partners/{id}"): Op("Change a partner (supervisor)", body=PartnerUpdate),
    ("GET", "/api/partners/{id}/site-links"): Op("A placement's site supervisors' links"),
    ("POST", "/api/partners/{id}/site-links"): Op("Issue a site supervisor's link", body=SiteLinkCreate, created=True),
    ("DELETE", "/api/site-links/{id}"): Op("Revoke a site supervisor's link"),
    ("POST", "/api/clients/{id}/referrals"): Op("Refer a client to a partner", body=ReferralCreate, created=True),
    ("GET", "/api/clients/{id}/referrals"): Op("A client's referrals"),
    ("GET", "/api/referrals/{id}"): Op("One referral with its steps and reports"),
    ("POST", "/api/referrals/{id}/steps"): Op("Move a referral to its next status", body=ReferralStepBody),
    ("POST", "/api/referrals/{id}/reports"): Op("Attach the partner's report (the body is the PDF, JPEG or PNG file)", created=True),
    ("GET", "/api/clients/{id}/sentence"): Op("The client's sentence and service hours"),
    ("PUT", "/api/clients/{id}/sentence"): Op("Set the client's sentence", body=SentenceBody),
    ("GET", "/api/clients/{id}/service-hours"): Op("Community-service hours entered for the client"),
    ("POST", "/api/clients/{id}/service-hours"): Op("Enter a day's community-service hours", body=HoursEntry, created=True),
    ("POST", "/api/service-hours/{id}/approve"): Op("Approve an entry of hours"),
    ("POST", "/api/service-hours/{id}/reject"): Op("Reject an entry of hours", body=HoursDecision),
    # violations and sidang TPP (issue 21)
    ("POST", "/api/clients/{id}/violations"): Op("Record a violation", body=ViolationCreate, created=True),
    ("GET", "/api/clients/{id}/violations"): Op("A client's violations"),
    ("GET", "/api/violations/{id}"): Op("One violation with its steps"),
    ("POST", "/api/violations/{id}/steps"): Op("Take a violation's next step", body=StepCreate),
    ("GET", "/api/clients/{id}/alerts"): Op("A client's three-misses alerts not answered yet"),
    ("POST", "/api/clients/{id}/alerts/{key}/confirm"): Op("Confirm an alert: record the proposed violation", body=AlertConfirm, created=True),
    ("POST", "/api/clients/{id}/alerts/{key}/dismiss"): Op("Dismiss an alert with a reason", body=AlertDismiss),
    ("POST", "/api/tpp-sittings"): Op("Open a sidang TPP", body=SittingCreate, created=True),
    ("GET", "/api/tpp-sittings"): Op("The office's sittings"),
    ("GET", "/api/tpp-sittings/{id}"): Op("One sitting"),
    ("POST", "/api/tpp-sittings/{id}/cases/{case_id}/decision"): Op("Decide a case", body=CaseDecision),
    ("POST", "/api/tpp-sittings/{id}/close"): Op("Close a sitting (quorum, every case decided)"),
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "a stable code for programs"},
        "message": {"type": "string", "description": "a sentence for people"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "retry_after": {"type": "integer"},
    },
}


def operation_id(method: str, path: str) -> str:
    return (method.lower() + path.replace("/", "_").replace("{", "").replace("}", "").replace(".", "_")).rstrip("_")


def _query_parameters(model: type[BaseModel], schema: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        # A query parameter is absent or a value; "null" has no spelling in a URL.
        branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
        if len(branches) == 1:
            prop = {**{k: v for k, v in prop.items() if k not in ("anyOf", "default")}, **branches[0]}
        out.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return out


def build_document(app: web.Application) -> dict[str, Any]:
    bodies = sorted({op.body for op in OPERATIONS.values() if op.body}, key=lambda m: m.__name__)
    _, defs = models_json_schema([(m, "validation") for m in bodies], ref_template=REF)
    components = dict(defs.get("$defs", {}))
    components["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith("/api/") or route.method == "HEAD":
            continue
        op = OPERATIONS.get((route.method, path))
        if op is None:
            continue
        item: dict[str, Any] = {"operationId": operation_id(route.method, path), "summary": op.summary, "parameters": []}
        for name in re.findall(r"{(\w+)}", path):
            # A reminder's id names its kind, client or session and time; every other id is a row's.
            # So does an alert's key names its run ("tiga-kali-berturut-YYYY-MM-DD").
            textual = path.startswith("/api/reminders/") or name == "key"
            schema = {"type": "string", "maxLength": 64} if textual else {"type": "integer", "minimum": 1, "maximum": MAX_ID}
            item["parameters"].append({"name": name, "in": "path", "required": True, "schema": schema})
        if op.query:
            query_schema = op.query.model_json_schema(ref_template=REF, mode="validation")
            item["parameters"] += _query_parameters(op.query, query_schema)
            for name, sub in query_schema.get("$defs", {}).items():
                components.setdefault(name, sub)
        if op.body:
            item["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": REF.format(model=op.body.__name__)}}}}
        ok = {"description": "done", "content": {"application/json": {"schema": {"type": "object"}}}}
        if op.links:
            ok["links"] = op.links
        item["responses"] = {
            "201" if op.created else "200": ok,
            "4XX": {"description": "refused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        }
        if op.public:
            item["security"] = []
        paths.setdefault(path, {})[route.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "Bimbing API", "version": VERSION, "description": "Staff API of Bimbing; the contract in prose is docs/api.md."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"staffSession": {"type": "apiKey", "in": "cookie", "name": "bimbing_session"}},
        },
        "security": [{"staffSession": []}],
    }
