"""The schema: ``models`` (offices, staff, clients, sessions, letters, the
audit trail), ``partners`` (partners, referrals, sentences, service hours),
``casework`` (violations, sidang TPP), ``guidance`` (assessments, case
plans, progress), ``chat`` (the text line beside a call), ``signing`` (documents signed in a call) and ``guests``
(a third person in a call), imported here so that whoever imports the schema has every
table."""

from server.db import casework, chat, guests, guidance, partners, signing  # noqa: F401  (register their tables on Base.metadata)
