"""The JSON API under ``/api/``, one module per resource (plus ``/healthz``).
Each module holds its request models and its ``routes``; docs/api.md is the contract."""

from server.web.api import (
    areas,
    audit,
    auth,
    clients,
    documents,
    field_sessions,
    guests,
    guidance,
    evaluation,
    health,
    home_visits,
    kendala,
    openapi,
    partners,
    referrals,
    sentences,
    notify,
    office,
    portal,
    reminders,
    mobile_events,
    metrics,
    letters,
    recordings,
    sessions,
    staff,
    tpp,
    violations,
)

MODULES = (health, auth, clients, sessions, staff, audit, kendala, recordings, openapi, portal, reminders, notify, field_sessions, mobile_events, home_visits, areas, metrics, letters, evaluation, office, partners, referrals, sentences, violations, tpp, guidance, documents, guests)
