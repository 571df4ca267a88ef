"""Bahasa Indonesia and English carry the same messages, and every message a
template asks for exists."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest

from server.db.guests import GUEST_ROLES
from server.db.models import (
    MET_WITH,
    TOPICS,
    VISIT_REASONS,
    Agreement,
    ClientCategory,
    Evidence,
    GoalRating,
    KendalaKind,
    KendalaStatus,
    LetterKind,
    MobileEventStatus,
    Outcome,
    PlanStatus,
    Program,
    RiskCategory,
    Role,
    SessionEventKind,
    SessionMode,
    SessionStatus,
    Stage,
    ViolationDecision,
    ViolationKind,
    ViolationState,
)
from server.db.partners import (
    HoursStatus,
    PartnerKind,
    ReferralOutcome,
    ReferralStatus,
    SentenceKind,
)
from server.domain.documents.letters import SIGNER_TITLES
from server.domain.partners.counts import HOURS_FIGURES
from server.domain.record.ledger import PERIOD_STATUSES, REPORTING_REASONS, STATE_ORDER
from server.domain.violations.sittings import CASE_KINDS, OTHER_DECISIONS
from server.web.api.evaluation import KEY_PREFIX, NONE_KEYS
from server.web.i18n import CATALOGUE_DIR
from server.web.pages.admin import SETTING_KEYS
from server.web.pages.join_link import _STATUS as JOIN_REFUSALS
from server.web.pages.office import FORM_FIELDS as OFFICE_FORM_FIELDS

TEMPLATES = Path(__file__).resolve().parent.parent / "server" / "web" / "templates"

# Keys templates build with ``~`` ("status." ~ s.status.value): the values they can take.
DYNAMIC_PREFIXES = {
    "status.": [s.value for s in SessionStatus],
    "state.": list(STATE_ORDER),
    "program.": [p.value for p in Program],
    "category.": [c.value for c in ClientCategory],
    "mode.": [m.value for m in SessionMode],
    "outcome.": [o.value for o in Outcome],
    "topic.": list(TOPICS),
    "event.": [k.value for k in SessionEventKind],
    "role.": [r.value for r in Role],
    "join_error.": list(JOIN_REFUSALS),
    "kendala.kind.": [k.value for k in KendalaKind],
    "guest.role.": list(GUEST_ROLES),
    "kendala.status.": [s.value for s in KendalaStatus],
    "evidence.": [e.value for e in Evidence],
    "portal.err_": ["invalid_token", "link_revoked", "link_expired", "too_many"],
    "reminder.kind.": ["morning_of", "overdue", "reassessment", "day_before", "mobile_invitation"],
    "evidence_help.": [e.value for e in Evidence],
    "met_with.": list(MET_WITH),
    "mobile.status.": [s.value for s in MobileEventStatus],
    "mobile.presence.": ["present", "awaited", "absent"],
    "visit.reason.": list(VISIT_REASONS),
    "actor.": ["officer", "client", "system"],
    "letter.kind.": [k.value for k in LetterKind],
    "letter.body.": [k.value for k in LetterKind],
    "letter.signer_title.": ["head", *SIGNER_TITLES.values()],
    "office.field.": list(OFFICE_FORM_FIELDS),
    "eval.evidence.": [e.value for e in Evidence],
    "reporting.": list(REPORTING_REASONS),
    "period.": list(PERIOD_STATUSES),
    "partner.kind.": [k.value for k in PartnerKind],
    "referral.status.": [s.value for s in ReferralStatus],
    "referral.outcome.": [o.value for o in ReferralOutcome],
    "sentence.kind.": [k.value for k in SentenceKind],
    "hours.status.": [s.value for s in HoursStatus],
    "site.err_": ["invalid_token", "link_revoked", "link_expired", "too_many"],
    "violation.kind.": [k.value for k in ViolationKind],
    "violation.state.": [s.value for s in ViolationState],
    "violation.decision.": [d.value for d in ViolationDecision],
    "tpp.status_": ["open", "closed"],
    "tpp.case_kind.": list(CASE_KINDS),
    "tpp.other_decision.": list(OTHER_DECISIONS),
    "stage.": [s.value for s in Stage],
    "risk.": [r.value for r in RiskCategory],
    "plan_status.": [s.value for s in PlanStatus],
    "agreement.": [a.value for a in Agreement],
    "rating.": [r.value for r in GoalRating],
    "portal.rating.": [r.value for r in GoalRating],
    "guidance.due.": ["none", "due", "ok"],
    "console.question.": ["open", "closed", "reflective"],
    "eval.tpp_": ["held", "open", "cases"],
    "eval.hours_": list(HOURS_FIGURES),
    # Documents signed in a call (server/domain/documents/signing.py).
    "document.state.": ["pending", "signed", "countersigned", "broken"],
    "verify.document_": ["signed", "countersigned"],
}
# Keys chosen in Python and handed to a template as a variable.
KEYS_FROM_CODE = ["login.failed", "login.too_many", "portal.err_form", "portal.err_invalid", "portal.err_too_many", *SETTING_KEYS,
                  "site.err_form", "site.err_invalid",
                  # The evaluation CSV's groups and the keys it names in words (server/web/api/evaluation.py).
                  *(f"evalcsv.group.{g}" for g in (*KEY_PREFIX, "need", "total")), *NONE_KEYS.values(),
                  *(f"evalcsv.plan_{k}" for k in ("clients", "with_plan", "countersigned")), "eval.violations_total"]

LITERAL = re.compile(r"""\bt\(\s*(["'])([A-Za-z0-9_.\-]+)\1\s*[,)]""")
BUILT = re.compile(r"""\bt\(\s*(["'])([A-Za-z0-9_.\-]+)\1\s*~""")


def catalogue(locale: str) -> dict[str, str]:
    return json.loads((CATALOGUE_DIR / f"{locale}.json").read_text(encoding="utf-8"))


def template_sources() -> dict[str, str]:
    return {str(p.relative_to(TEMPLATES)): p.read_text(encoding="utf-8") for p in sorted(TEMPLATES.rglob("*.html"))}


def test_indonesian_and_english_have_exactly_the_same_keys():
    ids, ens = set(catalogue("id")), set(catalogue("en"))
    assert sorted(ids - ens) == [], "missing in en.json"
    assert sorted(ens - ids) == [], "missing in id.json"


def test_every_message_has_text_and_the_same_placeholders_in_both_languages():
    ids, ens = catalogue("id"), catalogue("en")
    fields = lambda text: sorted(f for _lit, f, _spec, _conv in string.Formatter().parse(text) if f)  # noqa: E731
    for key in ids:
        assert ids[key].strip() and ens.get(key, "x").strip(), key
        assert fields(ids[key]) == fields(ens.get(key, "")), key


@pytest.mark.parametrize("template", sorted(template_sources()))
def test_every_literal_key_in_a_template_exists(template):
    source = template_sources()[template]
    keys = {m.group(2) for m in LITERAL.finditer(source)}
    missing = sorted(k for k in keys if k not in catalogue("id"))
    assert missing == []


@pytest.mark.parametrize("template", sorted(template_sources()))
def test_every_built_key_in_a_template_exists_for_every_value(template):
    source = template_sources()[template]
    ids = catalogue("id")
    missing = []
    for m in BUILT.finditer(source):
        prefix = m.group(2)
        assert prefix in DYNAMIC_PREFIXES, f"{template} builds keys from {prefix!r}: add its values to DYNAMIC_PREFIXES"
        missing += [prefix + v for v in DYNAMIC_PREFIXES[prefix] if prefix + v not in ids]
    assert missing == []


def test_keys_chosen_in_code_exist():
    assert [k for k in KEYS_FROM_CODE if k not in catalogue("id")] == []


def test_the_scan_finds_keys_at_all():
    # Guard against a regex that silently matches nothing.
    sources = "".join(template_sources().values())
    assert len({m.group(2) for m in LITERAL.finditer(sources)}) > 40
    assert {m.group(2) for m in BUILT.finditer(sources)} >= {"status.", "state.", "outcome.", "mode."}
