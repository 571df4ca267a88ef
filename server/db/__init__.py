"""The schema: ``models`` (offices, staff, clients, sessions, letters, the
audit trail), ``partners`` (partners, referrals, sentences, service hours),
``casework`` (violations, sidang TPP) and ``guidance`` (assessments, case
plans, progress), imported here so that whoever imports the schema has every
table."""

from server.db import casework, guidance, partners  # noqa: F401  (register their tables on Base.metadata)
