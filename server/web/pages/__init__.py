"""Server-rendered pages, one module per area of the office's work; each
renders the templates in the folder of the same name under ``templates/``."""

from server.web.pages import (
    account,
    admin,
    audit,
    auth,
    call,
    clients,
    documents,
    evaluation,
    field_sessions,
    guest_link,
    guidance,
    home_visits,
    join_link,
    kendala,
    letters,
    mobile_events,
    notify,
    office,
    partners,
    portal,
    reminders,
    sessions,
    site,
    violations,
)

MODULES = (auth, clients, sessions, call, join_link, kendala, portal, reminders, audit, admin, account, notify, field_sessions, mobile_events, home_visits, office, letters, evaluation, partners, site, violations, guidance, documents, guest_link)
