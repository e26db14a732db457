"""The audit log as a hash chain: each line carries the hash of the line before and its own.

A line's hash is SHA-256 of the previous line's hash and the line's own fields, written
in one INSERT that reads the previous hash itself (SQLite: under its one write lock; on
PostgreSQL after a transaction-wide advisory lock), so two lines written at once never
claim the same predecessor. The store's triggers already refuse any UPDATE or DELETE;
the chain makes what they cannot stop visible: a line changed, removed or inserted by
someone who dropped the triggers, or a log dropped and made again.

`verify` walks the log; `joinedup inbox audit verify` prints what it finds, and the inbox
refuses to start on a broken chain or on a log younger than the accounts it audits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from inbox.tables import AUDIT_LOG, USERS

_LOCK = 7_244_001  # the advisory lock audit writers share on PostgreSQL


def canonical(
    at: dt.datetime,
    actor: str,
    role: str,
    action: str,
    reference: str | None,
    detail: str,
    client: str | None,
    session: str | None,
) -> str:
    """A line's fields as the text its hash is taken over (after the previous hash)."""
    fields = [at.isoformat(), actor, role, action, reference, detail, client, session]
    return "\x1f".join("" if f is None else f for f in fields)


def append(conn: Connection, **line: object) -> None:
    """Insert one audit line with its place in the chain.

    On PostgreSQL the lock must last until the line is committed: a connection in
    autocommit (a page view's) writes its line in a transaction of its own.
    """
    autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    if conn.dialect.name == "postgresql" and autocommit:
        with conn.engine.begin() as own:
            _append(own, line)
    else:
        _append(conn, line)


def _append(conn: Connection, line: dict[str, object]) -> None:
    text = canonical(**line)  # type: ignore[arg-type]
    previous = (
        sa.select(AUDIT_LOG.c.hash).order_by(AUDIT_LOG.c.id.desc()).limit(1).scalar_subquery()
    )
    joined = sa.func.coalesce(previous, "") + sa.literal(text)
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_LOCK})"))
        digest = sa.func.encode(sa.func.sha256(sa.func.convert_to(joined, "UTF8")), "hex")
    else:
        digest = sa.func.sha256_hex(joined)
    columns = [*line, "prev", "hash"]
    values = [sa.literal(v, type_=AUDIT_LOG.c[k].type) for k, v in line.items()] + [
        previous,
        digest,
    ]
    conn.execute(sa.insert(AUDIT_LOG).from_select(columns, sa.select(*values)))


@dataclass(frozen=True)
class Verdict:
    """What a walk of the log found."""

    lines: int
    chained_from: int | None  # the first line's id in the chain (older lines have none)
    broken: str | None  # why the chain is broken, naming the line; None when it holds

    def words(self) -> str:
        """One line for the terminal."""
        if self.broken:
            return f"audit log BROKEN: {self.broken}"
        if self.chained_from is None:
            return f"audit log: {self.lines:,} lines, none chained yet"
        return f"audit log: {self.lines:,} lines, the chain intact from line {self.chained_from}"


def verify(engine: Engine) -> Verdict:
    """Walk the log in order: every hash recomputed, every link to the line before checked.

    Lines written before the chain (no hash) may only come first. Every account's making is a
    line of the log: a log that records fewer than there are accounts lost lines, or was
    dropped and made again.
    """
    lines = 0
    first: int | None = None
    before: str | None = None
    with engine.connect() as conn:
        accounts = conn.execute(sa.select(sa.func.count()).select_from(USERS)).scalar_one()
        created = conn.execute(
            sa.select(sa.func.count()).where(AUDIT_LOG.c.action == "account_created")
        ).scalar_one()
        rows = conn.execute(sa.select(AUDIT_LOG).order_by(AUDIT_LOG.c.id)).yield_per(5_000)
        for row in rows:
            lines += 1
            if row.hash is None:
                if first is not None:
                    return Verdict(lines, first, f"line {row.id} has no hash after the chain began")
                continue
            if first is None:
                first = row.id
            elif row.prev != before:
                return Verdict(
                    lines,
                    first,
                    f"line {row.id} does not follow the line before it (removed or inserted lines)",
                )
            text = canonical(
                row.at,
                row.actor,
                row.role,
                row.action,
                row.reference,
                row.detail,
                row.client,
                row.session,
            )
            if hashlib.sha256(((row.prev or "") + text).encode()).hexdigest() != row.hash:
                return Verdict(lines, first, f"line {row.id} was changed after it was written")
            before = row.hash
    if accounts > created:
        return Verdict(
            lines,
            first,
            f"{accounts} accounts but the log records the making of {created}: lines were "
            "lost, or the log was dropped and made again",
        )
    return Verdict(lines, first, None)
