"""letter.printed: what an issued letter printed, kept with it

Revision ID: 0010
Revises: 0009

An issued letter keeps what it printed (the letterhead, the client's
particulars, the ledger's figures as of the issue date, the reason of a
summons) whatever the office profile or the client's row say later
(server/domain/documents/letters.py). Letters issued before this revision get
what can still be known of it: the letterhead they printed, which is the
office profile of today rolled back through the audit trail's
``office.profile`` and ``office.logo`` entries made after the letter was
issued (``"version": 1, "backfilled": "audit_trail"``; their signature stays
the version 1 statement). Their client's particulars and attended-session count
render from today's data, as they always did (docs/api.md, "Letters";
docs/deploy.md).
"""
import sqlalchemy as sa
from alembic import op

import server.db.models

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# The letterhead's fields in the office profile (server/domain/office/profile.py), as 0010 knows them.
LETTERHEAD = ('address', 'phone', 'email', 'logo_path')


def upgrade() -> None:
    # Plain ADD COLUMN (no batch): SQLite does not rebuild the table.
    op.add_column('letter', sa.Column('printed', sa.JSON(), nullable=True))
    _backfill_letterheads()


def _backfill_letterheads() -> None:
    bind = op.get_bind()
    utc = server.db.models.UTCDateTime(timezone=True)
    letter = sa.table('letter', sa.column('id', sa.Integer), sa.column('office_id', sa.Integer), sa.column('issued_at', utc), sa.column('printed', sa.JSON))
    office = sa.table('office', sa.column('id', sa.Integer), sa.column('settings', sa.JSON))
    audit = sa.table('audit_entry', sa.column('seq', sa.Integer), sa.column('at', utc), sa.column('action', sa.String),
                     sa.column('target_type', sa.String), sa.column('target_id', sa.String), sa.column('detail', sa.JSON))
    letters = bind.execute(sa.select(letter.c.id, letter.c.office_id, letter.c.issued_at)).all()
    if not letters:
        return
    profiles = {row.id: (row.settings or {}).get('profile') or {} for row in bind.execute(sa.select(office.c.id, office.c.settings))}
    changes = bind.execute(
        sa.select(audit.c.at, audit.c.action, audit.c.target_id, audit.c.detail)
        .where(audit.c.action.in_(('office.profile', 'office.logo')), audit.c.target_type == 'office')
        .order_by(audit.c.seq.desc())
    ).all()
    for row in letters:
        shown = {k: str(profiles.get(row.office_id, {}).get(k, '')) for k in LETTERHEAD}
        # Newest change first: each one's old value is what stood before it, so
        # after the walk each field holds its value when the letter was issued.
        for change in changes:
            if change.target_id != str(row.office_id) or change.at <= row.issued_at:
                continue
            detail = change.detail or {}
            if change.action == 'office.logo':
                shown['logo_path'] = str(detail.get('previous', ''))
            else:
                for k in LETTERHEAD:
                    if isinstance(detail.get(k), dict):
                        shown[k] = str(detail[k].get('old', ''))
        printed = {'version': 1, 'backfilled': 'audit_trail', 'office': shown}
        bind.execute(letter.update().where(letter.c.id == row.id).values(printed=printed))


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place, as 0008 does.
    op.drop_column('letter', 'printed')
