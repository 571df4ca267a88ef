"""A process that appends to the audit trail through the app's own writer
(``server.audit.chain.AuditLog``) and stops where tests/test_audit_crash.py
kills it:

    python -m tests.audit_writer_child DATABASE_URL KEY_PATH SIGN_EVERY ANSWERED IN_FLIGHT before|after

It appends ANSWERED entries (``test.answered``), their callers each waiting for
the commit, and prints ``answered <seq> <hash>`` of the last. Then IN_FLIGHT
callers append at once (``test.in_flight``), which makes one group, and the
process stops that group

- ``before``: when its COMMIT is about to be sent (SQLAlchemy's ``commit``
  event): the rows are inserted in the open transaction; it prints
  ``stopped <entries its own transaction sees>``;
- ``after``: once the COMMIT has returned, before any of its callers is
  answered (``AuditLog.on_append``); it prints ``stopped``,

and blocks reading its standard input until it is killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy import event

from server.audit.chain import AuditLog
from server.audit.signing import HeadSigner
from server.db.engine import make_engine, make_sessionmaker


def stop(line: str) -> None:
    print(line, flush=True)
    sys.stdin.readline()  # the whole process stands here, the loop with it, until SIGKILL
    raise SystemExit("not killed")


async def main(url: str, key: str, sign_every: int, answered: int, in_flight: int, moment: str) -> None:
    engine = make_engine(url)
    log = AuditLog(make_sessionmaker(engine), HeadSigner.load(Path(key), create=True), sign_every=sign_every)
    last = None
    for i in range(answered):
        last = await log.record("test.answered", actor="child", target_type="test", target_id=i)
    print(f"answered {last.seq} {last.hash}", flush=True)

    if moment == "before":
        @event.listens_for(engine.sync_engine, "commit")
        def before_commit(conn):
            seen = conn.exec_driver_sql("SELECT count(*) FROM audit_entry").scalar()
            stop(f"stopped {seen}")
    else:
        log.on_append.append(lambda action: stop("stopped"))
    await asyncio.gather(*(log.record("test.in_flight", actor="child", target_type="test", target_id=i) for i in range(in_flight)))
    raise SystemExit("the group was not stopped")


if __name__ == "__main__":
    url, key, sign_every, answered, in_flight, moment = sys.argv[1:]
    asyncio.run(main(url, key, int(sign_every), int(answered), int(in_flight), moment))
