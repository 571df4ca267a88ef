"""Server-rendered pages, one module per area of the office's work; each
renders the templates in the folder of the same name under ``templates/``."""

from server.web.pages import (
    admin,
    audit,
    auth,
    call,
    clients,
    evaluation,
    join_link,
    kendala,
    letters,
    office,
    sessions,
)

MODULES = (auth, clients, sessions, call, join_link, kendala, audit, admin, office, letters, evaluation)
