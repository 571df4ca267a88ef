"""The JSON API under ``/api/``, one module per resource (plus ``/healthz``).
Each module holds its request models and its ``routes``; docs/api.md is the contract."""

from server.web.api import (
    audit,
    auth,
    clients,
    evaluation,
    health,
    kendala,
    letters,
    recordings,
    sessions,
    staff,
)

MODULES = (health, auth, clients, sessions, staff, audit, kendala, recordings, letters, evaluation)
