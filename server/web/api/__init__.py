"""The JSON API under ``/api/``, one module per resource (plus ``/healthz``).
Each module holds its request models and its ``routes``; docs/api.md is the contract."""

from server.web.api import (
    areas,
    audit,
    auth,
    clients,
    evaluation,
    field_sessions,
    health,
    home_visits,
    kendala,
    letters,
    metrics,
    mobile_events,
    notify,
    office,
    openapi,
    portal,
    recordings,
    reminders,
    sessions,
    staff,
)

MODULES = (health, auth, clients, sessions, staff, audit, kendala, recordings, openapi, portal, reminders, notify, field_sessions, mobile_events, home_visits, areas, metrics, letters, evaluation, office)
