"""The inbox's tables in the operational store: users, sessions, the audit log, notes,
forwards, snoozes and outcomes. They join `alerts.store.METADATA`, so `open_store`
creates them with the rest."""

from __future__ import annotations

import sqlalchemy as sa

from alerts.store import METADATA

PROFESSIONAL = "professional"
DUTY_MANAGER = "duty_manager"
ANALYST = "analyst"  # aggregates only: never a name or a person-level page
ADMIN = "admin"
# Managers and commissioners: the period's insight, disclosure-controlled; never a person.
MANAGER = "manager"
ROLES = (PROFESSIONAL, DUTY_MANAGER, ANALYST, ADMIN, MANAGER)

# How an alert can be closed; "no further action" and "risk held steady" can be good news.
OUTCOMES = {
    "no_further_action": "No further action",
    "risk_held_steady": "Risk held steady",
    "support_offered": "Support offered",
    "referred_to_partner": "Referred to a partner agency",
    "strategy_discussion": "Strategy discussion held",
    "safeguarding_enquiry": "Safeguarding enquiry opened",
    "not_a_concern": "Not a concern (alert mistaken)",
}

# What the professional set out to do for the person, and how it went by closure: with
# "held steady" a success where the goal was to maintain (insight.outcomes says when each
# counts as a success). Both are recorded at closure, or neither (an alert closed as
# mistaken has no goal).
GOALS = {
    "improve": "Improve: bring the risk down",
    "maintain": "Maintain: keep things from getting worse",
    "prevent": "Prevent: stop a serious event happening",
}
PROGRESS = {
    "improved": "Improved",
    "held_steady": "Held steady",
    "worsened": "Worsened",
}

NOTE_MAX = 4000  # characters

USERS = sa.Table(
    "inbox_users",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(320), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("email", sa.String(320)),  # a professional's work email: alerts routed to it
    sa.Column("team", sa.String(64)),  # a team id from alerts.yaml: alerts routed to it
    sa.Column("agency", sa.String(64)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("left_at", sa.DateTime),  # a leaver: cannot sign in, their sessions ended
    # The identity provider's subject for this account, bound at its first single sign-on.
    sa.Column("oidc_subject", sa.String(255)),
    sa.CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLES)})", name="inbox_user_role"),
)

SESSIONS = sa.Table(
    "inbox_sessions",
    METADATA,
    # An HMAC of the cookie's value: a copy of the store does not give a usable cookie.
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("inbox_users.id"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
    sa.Column("seen_at", sa.DateTime),  # its last request, to the minute: the idle timeout
)

# Append-only: the inbox inserts and reads it, never updates or deletes (and see below).
AUDIT_LOG = sa.Table(
    "inbox_audit_log",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(320), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("reference", sa.String(16), index=True),
    sa.Column("detail", sa.String(500), nullable=False, default=""),  # never a note's text
    sa.Column("client", sa.String(64)),  # the address the request came from
    sa.Column("session", sa.String(16)),  # a hash of the session's cookie: ties lines together
    # The hash chain (inbox.auditchain): the line before's hash, and this line's.
    sa.Column("prev", sa.String(64)),
    sa.Column("hash", sa.String(64)),
)

# The store itself refuses to change or remove a line of the audit log, whoever asks: a
# trigger on SQLite and on PostgreSQL, made with the table.
_APPEND_ONLY = "the audit log is append-only"


def _trigger(statement: str, dialect: str) -> None:
    ddl = sa.DDL(statement)  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it untyped
    sa.event.listen(AUDIT_LOG, "after_create", ddl.execute_if(dialect=dialect))


for _statement in (
    "CREATE TRIGGER inbox_audit_no_update BEFORE UPDATE ON inbox_audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END",
    "CREATE TRIGGER inbox_audit_no_delete BEFORE DELETE ON inbox_audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END",
):
    _trigger(_statement, "sqlite")
for _statement in (
    "CREATE OR REPLACE FUNCTION inbox_audit_append_only() RETURNS trigger LANGUAGE plpgsql "
    f"AS $$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$",
    "CREATE TRIGGER inbox_audit_no_change BEFORE UPDATE OR DELETE ON inbox_audit_log "
    "FOR EACH ROW EXECUTE FUNCTION inbox_audit_append_only()",
    "CREATE TRIGGER inbox_audit_no_truncate BEFORE TRUNCATE ON inbox_audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION inbox_audit_append_only()",
):
    _trigger(_statement, "postgresql")

NOTES = sa.Table(
    "inbox_notes",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), nullable=False, index=True),
    sa.Column("author", sa.String(320), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # note | forward | snooze | close
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
)

FORWARDS = sa.Table(
    "inbox_forwards",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), nullable=False, index=True),
    sa.Column("from_user", sa.String(320), nullable=False),
    sa.Column("to_user", sa.String(320), nullable=False, index=True),
    sa.Column("at", sa.DateTime, nullable=False),
)

SNOOZES = sa.Table(
    "inbox_snoozes",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), nullable=False, index=True),
    sa.Column("until", sa.Date, nullable=False),
    sa.Column("by", sa.String(320), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
)

OUTCOME_ROWS = sa.Table(
    "inbox_outcomes",
    METADATA,
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), primary_key=True),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("by", sa.String(320), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    # Added after the first stores were made: open_store adds them to an older store.
    sa.Column("goal", sa.String(16)),  # a key of GOALS, or NULL when not recorded
    sa.Column("progress", sa.String(16)),  # a key of PROGRESS, or NULL when not recorded
)

# Every sign-in attempt, kept to slow down password guessing (inbox.throttle): the sign-in
# as typed (lowercased), the client's address, and whether it succeeded; never a password.
SIGN_INS = sa.Table(
    "inbox_sign_ins",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(320), nullable=False, index=True),
    sa.Column("client", sa.String(64), nullable=False, index=True),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("pending", sa.Boolean),  # true while its password is being checked
)
