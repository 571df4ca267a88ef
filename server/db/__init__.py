"""The schema: ``models`` (offices, staff, clients, sessions, letters, the
audit trail) and ``partners`` (partners, referrals, sentences, service hours),
imported here so that whoever imports the schema has every table."""

from server.db import partners  # noqa: F401  (registers its tables on Base.metadata)
