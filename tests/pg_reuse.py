"""PostgreSQL databases for the tests, copied from the migrated template once
and then reused: after a test its database is emptied and handed to the next
test of the same worker (tests/README.md, "How the suite runs").

Why: ``CREATE DATABASE … TEMPLATE`` copies the whole database, its ten
megabytes of system catalogs included, block by block through the WAL
(PostgreSQL 15's default strategy): 0.3-0.6 s of the server's CPU per test,
measured on the 2-core machine, for some 500 PostgreSQL tests a run. Emptying
the tables and resetting the sequences costs about 3 ms.

A database goes back to the pool only if it is, but for its rows, what the
template was: its schema (tables, columns, defaults, constraints, indexes,
triggers and whether they fire, functions, types, grants, the migration
version) has the template's fingerprint. A test that changed any of that (a
tampering test that drops a trigger, say) leaves a database that is dropped,
and the next test gets a fresh copy. A reset that fails drops it too."""

from __future__ import annotations

import asyncpg

# Everything of a database but its rows that a test could change, as one digest.
# (Temporary schemas are left out: PostgreSQL keeps them once a backend used one.)
FINGERPRINT = r"""
SELECT md5(string_agg(x, E'\n' ORDER BY x)) FROM (
  SELECT 'n:' || nspname FROM pg_namespace
   WHERE nspname NOT LIKE 'pg\_temp\_%' AND nspname NOT LIKE 'pg\_toast\_temp\_%'
  UNION ALL
  SELECT 'c:' || n.nspname || '.' || c.relname || ':' || c.relkind::text || ':' || coalesce(c.relacl::text, '')
         || ':' || c.relrowsecurity::text
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
     AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
  UNION ALL
  SELECT 'a:' || a.attrelid::regclass::text || ':' || a.attname || ':' || format_type(a.atttypid, a.atttypmod)
         || ':' || a.attnotnull::text || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'k:' || conrelid::regclass::text || ':' || conname || ':' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'i:' || pg_get_indexdef(indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT 't:' || pg_get_triggerdef(oid) || ':' || tgenabled::text FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT 'f:' || p.oid::regprocedure::text || ':' || md5(coalesce(p.prosrc, '')) || ':' || coalesce(p.proacl::text, '')
    FROM pg_proc p WHERE p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
  UNION ALL
  SELECT 'y:' || typname FROM pg_type WHERE typnamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'e:' || extname || ':' || extversion FROM pg_extension
  UNION ALL
  SELECT 'p:' || polname || ':' || polrelid::regclass::text FROM pg_policy
  UNION ALL
  SELECT 'r:' || rulename || ':' || tablename FROM pg_rules WHERE schemaname = 'public'
  UNION ALL
  SELECT 's:' || array_to_string(setconfig, ',') FROM pg_db_role_setting
   WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
  UNION ALL
  SELECT 'l:' || count(*)::text FROM pg_largeobject_metadata
  UNION ALL
  SELECT 'v:' || version_num FROM alembic_version
) AS everything(x)
"""


async def connect(base: dict, database: str) -> asyncpg.Connection:
    return await asyncpg.connect(database=database, **base)


class Shape:
    """What the template is (its fingerprint) and how to empty a copy of it."""

    def __init__(self, fingerprint: str, reset_sql: str):
        self.fingerprint, self.reset_sql = fingerprint, reset_sql

    @classmethod
    async def of(cls, conn: asyncpg.Connection) -> Shape:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version' ORDER BY 1")]
        sequences = await conn.fetch(
            "SELECT sequencename, start_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1")
        # Rows go with no trigger or foreign key firing (the audit trail's guard
        # forbids deletes, and the order of tables would not matter); the sequences
        # start again where a fresh copy's do, so ids match a new database's.
        statements = ["SET session_replication_role = replica"]
        statements += [f'DELETE FROM "{table}"' for table in tables]
        statements += [f"SELECT setval('public.\"{s['sequencename']}\"', {s['start_value']}, false)" for s in sequences]
        statements.append("RESET session_replication_role")
        return cls(await conn.fetchval(FINGERPRINT), "BEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT;")


async def reset(base: dict, database: str, shape: Shape) -> bool:
    """Empty ``database`` for the next test; False when it is no longer the
    template's shape or could not be emptied (the caller drops it)."""
    try:
        conn = await connect(base, database)
    except (OSError, asyncpg.PostgresError):
        return False
    try:
        # Whatever the test left connected (an engine not disposed, a server
        # process killed mid-write) goes first, as DROP DATABASE … FORCE would.
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        if await conn.fetchval(FINGERPRINT) != shape.fingerprint:
            return False
        await conn.execute(shape.reset_sql)
        return True
    except (OSError, asyncpg.PostgresError):
        return False
    finally:
        await conn.close()
