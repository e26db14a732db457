"""The inbox's web app: sign-in, the alert list and page, actions, the audit log, the
summary of alerts and the managers' insight page.

Every page is rendered on the server (Jinja2, autoescaped). Every POST carries the
session's CSRF token in a hidden field; a forged or missing one is refused with 403
before anything is read or written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import duckdb
import httpx
import sqlalchemy as sa
from authlib.integrations.base_client import OAuthError
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from joserfc.errors import JoseError
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from alerts.config import load_config
from alerts.store import STATES, open_store
from inbox import actions, admin, oidc, throttle
from inbox.actions import Refused
from inbox.guard import BodyLimit, Caller, SecurityHeaders, limit_for, policy, style_hash
from inbox.sessions import Session, csrf_ok, end_session, find_session, start_session
from inbox.tables import (
    ADMIN,
    ANALYST,
    DUTY_MANAGER,
    GOALS,
    MANAGER,
    OUTCOMES,
    PROFESSIONAL,
    PROGRESS,
    ROLES,
)
from inbox.users import Busy, authenticate
from inbox.wording import BANDS, KINDS, Outcome, score_lines, trigger_lines
from inbox.wording import STATES as STATE_WORDS
from insight.alerted import alerts_by_team_and_state
from insight.disclosure import DisclosureRule
from insight.report import ReportError, build_report, linked_through

COOKIE = "joinedup_session"
LOGIN_COOKIE = "joinedup_signin"  # the sign-in form's CSRF token, before there is a session
_TEMPLATES = Path(__file__).parent / "templates"

ALERT_ROLES = (PROFESSIONAL, DUTY_MANAGER)
AUDIT_ROLES = (DUTY_MANAGER, ADMIN)
SUMMARY_ROLES = (ANALYST, DUTY_MANAGER, ADMIN, MANAGER)
INSIGHT_ROLES = (MANAGER, ANALYST, DUTY_MANAGER)  # aggregates only, never a person
EVERYONE = (PROFESSIONAL, DUTY_MANAGER, ANALYST, ADMIN, MANAGER)
PERIOD_DAYS = 365  # the insight page's period unless one is asked for


class _SignInNeeded(Exception):
    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path


class _Forbidden(Exception):
    def __init__(self, session: Session, path: str) -> None:
        self.session = session
        self.path = path


class _BadToken(Exception):
    def __init__(self, session: Session | None, path: str, username: str = "") -> None:
        self.session = session
        self.path = path
        self.username = username


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_app(
    store_url: str,
    config_path: Path,
    secret: str,
    *,
    warehouse: Path | None = None,
    disclosure: DisclosureRule | None = None,
    outcome: Outcome | None = None,
) -> FastAPI:
    """The inbox app over the store at `store_url`.

    Args:
        store_url: the operational store (`sqlite:///...` or `postgresql+psycopg://...`).
        config_path: the alerts config (teams' names, the duty manager's team).
        secret: keys the session ids kept in the store; from the environment in production.
        warehouse: the DuckDB warehouse the insight page reads (read-only); None: the page
            says there is none.
        disclosure: the rule every count on the summary and insight pages passes (NHS
            Digital's if None; `insight.yaml`'s in `joinedup inbox`).
        outcome: what the risk model's score is the chance of, for the alert page's words
            (the shipped risk.yaml's if None; the configured one in `joinedup inbox`).
    """
    import inbox.tables  # noqa: F401  (its tables join the store's metadata)

    if len(secret) < 16:
        raise ValueError("the inbox secret needs at least 16 characters")
    engine = open_store(store_url)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _commit_without_fsync)
        engine.dispose()  # the connection that made the tables has not had it
    config = load_config(config_path)
    sso = config.sign_in
    provider = oidc.provider(sso) if sso is not None else None
    passwords = sso is None or sso.passwords
    rule = disclosure or DisclosureRule()
    chance_of = outcome or Outcome()
    # The templates ship with the code: no look at their files' times on every page.
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(default=True),
        auto_reload=False,
    )
    app = FastAPI(title="joinedup inbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
    if sso is not None:
        # Only the single sign-on's state, nonce and PKCE verifier, signed, for ten minutes.
        app.add_middleware(
            SessionMiddleware,
            secret_key=secret,
            session_cookie=oidc.FLOW_COOKIE,
            max_age=oidc.FLOW_SECONDS,
            same_site="lax",
            https_only=config.inbox_url.startswith("https://"),
        )
    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(Caller, cookie=COOKIE)
    app.add_middleware(SecurityHeaders, csp=policy(style_hash(_TEMPLATES / "base.html")))

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("session", None)
        html = env.get_template(name).render(
            outcomes=OUTCOMES,
            goals=GOALS,
            progress=PROGRESS,
            teams=config.teams,
            states=STATES,
            state_words=STATE_WORDS,
            band_words=BANDS,
            kind_words=KINDS,
            rule=rule,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def session(request: Request, roles: tuple[str, ...]) -> Session:
        found = find_session(engine, secret, request.cookies.get(COOKIE), _now())
        if found is None:
            raise _SignInNeeded(request.method, request.url.path)
        if found.user.role not in roles:
            raise _Forbidden(found, request.url.path)
        return found

    def audit_refusal(who: Session | None, action: str, detail: str, username: str = "") -> None:
        """An audit line for a refusal: who (or the sign-in typed), what, where."""
        with engine.begin() as conn:
            if who is not None:
                actions.audit(conn, who.user, action, _now(), detail=detail)
            else:
                name = username.strip().lower() or "-"
                actions.audit_as(conn, name, "-", action, _now(), detail=detail)

    @app.exception_handler(_SignInNeeded)
    def _sign_in(request: Request, exc: _SignInNeeded) -> Response:
        if exc.method == "GET":
            return RedirectResponse(f"/signin?next={quote(exc.path)}", status_code=303)
        return page(
            "message.html",
            401,
            title="Signed out",
            message="Your session has ended: sign in again. Nothing you sent was saved.",
        )

    @app.exception_handler(_Forbidden)
    def _forbidden(request: Request, exc: _Forbidden) -> Response:
        audit_refusal(exc.session, "refused_page", f"{request.method} {exc.path}")
        return page(
            "message.html",
            403,
            title="Not for your role",
            message="Your role does not give you this page.",
        )

    def checked(request: Request, roles: tuple[str, ...], token: str | None) -> Session:
        me = session(request, roles)
        if not csrf_ok(me.csrf, token):
            raise _BadToken(me, request.url.path)
        return me

    @app.exception_handler(_BadToken)
    def _bad_token(request: Request, exc: _BadToken) -> Response:
        audit_refusal(exc.session, "refused_csrf", f"{request.method} {exc.path}", exc.username)
        return page(
            "message.html",
            403,
            title="Refused",
            message="This form was not sent from your inbox page (its security token "
            "is missing or wrong). Nothing was saved: go back, reload and try again.",
        )

    @app.get("/", response_model=None)
    def home(request: Request) -> Response:
        me = session(request, EVERYONE)
        target = {ANALYST: "/summary", ADMIN: "/audit", MANAGER: "/insight"}.get(
            me.user.role, "/alerts"
        )
        return RedirectResponse(target, status_code=303)

    def signin_page(request: Request, status: int, next: str, error: str | None) -> Response:
        """The sign-in page, with a fresh CSRF token for its form in a cookie of its own."""
        token = secrets.token_urlsafe(32)
        response = page(
            "signin.html",
            status,
            csrf=token,
            next=_safe_next(next),
            error=error,
            sso=sso.label if sso is not None else None,
            passwords=passwords,
        )
        response.set_cookie(
            LOGIN_COOKIE, token, httponly=True, samesite="lax", max_age=3600, secure=_https(request)
        )
        return response

    @app.get("/signin", response_model=None)
    def signin_form(request: Request, next: str = "/") -> Response:
        return signin_page(request, 200, next, None)

    @app.post("/signin", response_model=None)
    def signin(
        request: Request,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        expected = request.cookies.get(LOGIN_COOKIE)
        if not expected or not csrf_ok(expected, csrf):
            raise _BadToken(None, request.url.path, username)
        if not passwords:
            audit_refusal(
                None, "sign_in_failed", "passwords are off: single sign-on only", username
            )
            return signin_page(request, 403, next, "Inbox passwords are not used here.")
        now = _now()
        client = request.client.host if request.client else "unknown"
        attempt = throttle.begin(engine, username, client, now)
        until = attempt if isinstance(attempt, dt.datetime) else None
        busy = False
        try:
            user = None if until else authenticate(engine, username, password)
        except Busy:
            user, busy = None, True
            if isinstance(attempt, throttle.Attempt):
                throttle.abandon(engine, attempt)  # not the user's failure
        if user is None:
            if isinstance(attempt, throttle.Attempt) and not busy:
                throttle.failed(engine, attempt)
            why = "sign_in_busy" if busy else "sign_in_held" if until else "sign_in_failed"
            audit_refusal(None, why, "", username)
            if busy:
                status, error = 503, "The inbox is busy checking sign-ins: try again in a minute."
            elif until:
                status = 429
                error = (
                    f"Too many failed sign-ins: try again after {until:%H:%M} UTC, "
                    "or ask an admin to check your account."
                )
            else:
                status, error = 401, "That sign-in and password do not match."
            return signin_page(request, status, next, error)
        assert isinstance(attempt, throttle.Attempt)
        throttle.succeeded(engine, attempt)
        cookie = start_session(engine, secret, user, now)
        with engine.begin() as conn:
            actions.audit(conn, user, "sign_in", now)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(COOKIE, cookie, httponly=True, samesite="lax", secure=_https(request))
        response.delete_cookie(LOGIN_COOKIE)
        return response

    if sso is not None and provider is not None:
        settings, client = sso, provider

        @app.get("/signin/oidc", response_model=None)
        async def sso_start(request: Request, next: str = "/") -> Response:
            request.session.clear()
            request.session["next"] = _safe_next(next)
            try:
                away: Response = await client.authorize_redirect(
                    request, oidc.callback_url(config.inbox_url)
                )
            except httpx.HTTPError:
                away = page(
                    "message.html",
                    503,
                    title="Council sign-in unavailable",
                    message="The council's sign-in service did not answer: try again shortly.",
                )
            return away

        @app.get(oidc.CALLBACK, response_model=None)
        async def sso_back(request: Request) -> Response:
            target = _safe_next(request.session.get("next", "/"))
            claims: dict[str, Any] = {}
            try:
                token = await client.authorize_access_token(request)
                claims = dict(token.get("userinfo") or {})
                user = await run_in_threadpool(oidc.account, engine, settings, claims)
            except (OAuthError, JoseError, httpx.HTTPError) as exc:
                why = getattr(exc, "error", None) or type(exc).__name__
                refusal = oidc.SignOnRefused(
                    f"sso: {why}"[:200], "Your council sign-in did not complete: try again."
                )
            except oidc.SignOnRefused as exc:
                refusal = exc
            else:
                request.session.clear()
                now = _now()
                cookie = await run_in_threadpool(start_session, engine, secret, user, now)
                with engine.begin() as conn:
                    actions.audit(conn, user, "sign_in", now, detail="single sign-on")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(
                    COOKIE, cookie, httponly=True, samesite="lax", secure=_https(request)
                )
                return response
            request.session.clear()
            name = str(claims.get(settings.username_claim) or "")
            await run_in_threadpool(audit_refusal, None, "sign_in_failed", refusal.reason, name)
            return signin_page(request, 403, target, refusal.message)

    @app.post("/signout", response_model=None)
    def signout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        me = checked(request, EVERYONE, csrf)
        now = _now()
        end_session(engine, secret, request.cookies.get(COOKIE, ""), now)
        with engine.begin() as conn:
            actions.audit(conn, me.user, "sign_out", now)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/alerts", response_model=None)
    def alert_list(request: Request, state: str = "") -> Response:
        me = session(request, ALERT_ROLES)
        chosen = state if state in STATES else ""
        rows = actions.list_alerts(engine, me.user, chosen or None, _now().date())
        return page("alerts.html", session=me, alerts=rows, state=chosen)

    @app.get("/alerts/{reference}", response_model=None)
    def alert_page(request: Request, reference: str) -> Response:
        me = session(request, ALERT_ROLES)
        alert = actions.open_alert(engine, me.user, reference, _now())
        if alert is None:
            return page(
                "message.html",
                404,
                session=me,
                title="Not found",
                message="There is no alert with that reference among yours.",
            )
        return page(
            "alert.html",
            session=me,
            alert=alert,
            why=trigger_lines(alert, alert["pack"]),
            meaning=score_lines(alert, chance_of),
            colleagues=actions.colleagues(engine, me.user),
        )

    def not_saved(me: Session, request: Request, exc: Refused, back: str) -> Response:
        """A refused form: audited, and said on a page that leads back."""
        what = request.url.path.rsplit("/", 1)[-1]
        audit_refusal(me, f"refused_{what}"[:32], f"{exc.status}")
        return page(
            "message.html",
            exc.status,
            session=me,
            title="Not saved",
            message=exc.message,
            back=back,
        )

    def perform(
        request: Request,
        roles: tuple[str, ...],
        csrf: str,
        back: str,
        do: Callable[[Session], None],
    ) -> Response:
        """Check the session, role and token, do the change, and go back to `back`."""
        me = checked(request, roles, csrf)
        try:
            do(me)
        except Refused as exc:
            return not_saved(me, request, exc, back)
        return RedirectResponse(back, status_code=303)

    def act(request: Request, reference: str, csrf: str, do: Callable[[Session], None]) -> Response:
        return perform(request, ALERT_ROLES, csrf, f"/alerts/{quote(reference)}", do)

    @app.post("/alerts/{reference}/acknowledge", response_model=None)
    def acknowledge(
        request: Request,
        reference: str,
        csrf: Annotated[str, Form()] = "",
        version: Annotated[int, Form()] = 0,
    ) -> Response:
        return act(
            request,
            reference,
            csrf,
            lambda me: actions.acknowledge(engine, me.user, reference, version, _now()),
        )

    @app.post("/alerts/{reference}/forward", response_model=None)
    def forward(
        request: Request,
        reference: str,
        csrf: Annotated[str, Form()] = "",
        version: Annotated[int, Form()] = 0,
        to: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
    ) -> Response:
        return act(
            request,
            reference,
            csrf,
            lambda me: actions.forward(engine, me.user, reference, version, to, note, _now()),
        )

    @app.post("/alerts/{reference}/notes", response_model=None)
    def note(
        request: Request,
        reference: str,
        csrf: Annotated[str, Form()] = "",
        text: Annotated[str, Form()] = "",
    ) -> Response:
        return act(
            request,
            reference,
            csrf,
            lambda me: actions.add_note(engine, me.user, reference, text, _now()),
        )

    @app.post("/alerts/{reference}/snooze", response_model=None)
    def snooze(
        request: Request,
        reference: str,
        csrf: Annotated[str, Form()] = "",
        version: Annotated[int, Form()] = 0,
        until: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
    ) -> Response:
        return act(
            request,
            reference,
            csrf,
            lambda me: actions.snooze(
                engine,
                me.user,
                reference,
                version,
                until,
                reason,
                _now(),
                config.escalation.max_snooze_days,
            ),
        )

    @app.post("/alerts/{reference}/close", response_model=None)
    def close(
        request: Request,
        reference: str,
        csrf: Annotated[str, Form()] = "",
        version: Annotated[int, Form()] = 0,
        outcome: Annotated[str, Form()] = "",
        text: Annotated[str, Form()] = "",
        goal: Annotated[str, Form()] = "",
        progress: Annotated[str, Form()] = "",
    ) -> Response:
        return act(
            request,
            reference,
            csrf,
            lambda me: actions.close(
                engine, me.user, reference, version, outcome, text, _now(), goal, progress
            ),
        )

    def users_page(me: Session, made: dict[str, str] | None = None, status: int = 200) -> Response:
        rows = admin.accounts(engine, _now())
        return page(
            "admin_users.html",
            status,
            session=me,
            users=rows,
            roles=ROLES,
            made=made,
            passwords=passwords,
            claim=sso.username_claim if sso is not None else None,
        )

    @app.get("/admin/users", response_model=None)
    def admin_users(request: Request) -> Response:
        me = session(request, (ADMIN,))
        with engine.begin() as conn:
            actions.audit(conn, me.user, "view_accounts", _now())
        return users_page(me)

    def admin_act(request: Request, csrf: str, do: Callable[[Session], None]) -> Response:
        return perform(request, (ADMIN,), csrf, "/admin/users", do)

    @app.post("/admin/users", response_model=None)
    def admin_join(
        request: Request,
        csrf: Annotated[str, Form()] = "",
        username: Annotated[str, Form()] = "",
        role: Annotated[str, Form()] = "",
        team: Annotated[str, Form()] = "",
        email: Annotated[str, Form()] = "",
    ) -> Response:
        me = checked(request, (ADMIN,), csrf)
        password = secrets.token_urlsafe(12)
        try:
            admin.join(engine, me.user, username, role, team, email, password, _now())
        except Refused as exc:
            return not_saved(me, request, exc, "/admin/users")
        made = {"username": username.strip().lower(), "role": role, "password": password}
        return users_page(me, made)

    @app.post("/admin/users/{username}/move", response_model=None)
    def admin_move(
        request: Request,
        username: str,
        csrf: Annotated[str, Form()] = "",
        role: Annotated[str, Form()] = "",
        team: Annotated[str, Form()] = "",
        email: Annotated[str, Form()] = "",
    ) -> Response:
        return admin_act(
            request,
            csrf,
            lambda me: admin.move(engine, me.user, username, role, team, email, _now()),
        )

    @app.post("/admin/users/{username}/leave", response_model=None)
    def admin_leave(request: Request, username: str, csrf: Annotated[str, Form()] = "") -> Response:
        return admin_act(request, csrf, lambda me: admin.leave(engine, me.user, username, _now()))

    @app.post("/admin/users/{username}/revoke", response_model=None)
    def admin_revoke(
        request: Request, username: str, csrf: Annotated[str, Form()] = ""
    ) -> Response:
        return admin_act(request, csrf, lambda me: admin.revoke(engine, me.user, username, _now()))

    @app.get("/audit", response_model=None)
    def audit_page(request: Request) -> Response:
        me = session(request, AUDIT_ROLES)
        with engine.begin() as conn:
            actions.audit(conn, me.user, "view_audit", _now())
        return page("audit.html", session=me, rows=actions.audit_rows(engine, 500))

    @app.get("/audit.csv", response_model=None)
    def audit_csv(request: Request) -> Response:
        me = session(request, AUDIT_ROLES)
        with engine.begin() as conn:
            actions.audit(conn, me.user, "export_audit", _now())
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["at", "actor", "role", "action", "reference", "detail"])
        for r in actions.audit_rows(engine):
            writer.writerow(
                [
                    r["at"].isoformat(),
                    *(
                        _inert(v)
                        for v in (r["actor"], r["role"], r["action"], r["reference"], r["detail"])
                    ),
                ]
            )
        return PlainTextResponse(
            out.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
        )

    @app.get("/summary", response_model=None)
    def summary_page(request: Request) -> Response:
        me = session(request, SUMMARY_ROLES)
        table = alerts_by_team_and_state(engine, rule)
        with engine.begin() as conn:
            actions.audit(conn, me.user, "view_summary", _now())
        return page("summary.html", session=me, table=table)

    def insight_for(me: Session, start: str, end: str, action: str) -> dict[str, Any] | Response:
        """The period's insight report, its viewing audited as `action`; or the page that
        says why there is none."""

        def refused(status: int, title: str, message: str) -> Response:
            return page("message.html", status, session=me, title=title, message=message)

        if warehouse is None or not warehouse.is_file():
            return refused(503, "No insight yet", "This inbox has no warehouse to read.")
        try:
            last = dt.date.fromisoformat(end) if end else linked_through(warehouse)
            first = dt.date.fromisoformat(start) if start else None
        except ValueError:
            return refused(422, "Not a period", "Give the period's days as YYYY-MM-DD.")
        except duckdb.IOException:
            return refused(503, "Busy", "The nightly run is writing the warehouse: try later.")
        if last is None:
            return refused(503, "No insight yet", "No night has been linked yet.")
        first = first or last - dt.timedelta(days=PERIOD_DAYS - 1)
        try:
            report = build_report(warehouse, first, last, rule, engine)
        except ReportError as exc:
            return refused(422, "No insight for that period", str(exc))
        except duckdb.IOException:
            return refused(503, "Busy", "The nightly run is writing the warehouse: try later.")
        with engine.begin() as conn:
            actions.audit(conn, me.user, action, _now(), detail=f"{first} to {last}")
        return report

    @app.get("/insight", response_model=None)
    def insight_page(request: Request, start: str = "", end: str = "") -> Response:
        me = session(request, INSIGHT_ROLES)
        report = insight_for(me, start, end, "view_insight")
        if isinstance(report, Response):
            return report
        return page("insight.html", session=me, report=report)

    @app.get("/insight.json", response_model=None)
    def insight_json(request: Request, start: str = "", end: str = "") -> Response:
        me = session(request, INSIGHT_ROLES)
        report = insight_for(me, start, end, "export_insight")
        if isinstance(report, Response):
            return report
        period = report["period"]
        name = f"insight_{period['from']}_{period['to']}.json"
        return PlainTextResponse(
            json.dumps(report, indent=1),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return app


def _commit_without_fsync(dbapi_connection: Any, _record: Any) -> None:
    # Every alert page writes its audit line. SQLite's default (synchronous=FULL) waits for
    # the disk inside each commit while holding the store's one write lock, so on a busy
    # disk views queued behind each other for seconds (bench/inbox_load.py). In WAL mode,
    # NORMAL waits only at checkpoints: the store cannot be corrupted, and a crash of the
    # inbox loses nothing; a power cut or an OS crash may lose the last commits.
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _https(request: Request) -> bool:
    """Whether the browser reached the inbox over HTTPS: then cookies are sent only so."""
    return request.url.scheme == "https"


def _inert(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one starting =, +, -, @, tab or CR is a
    formula to Excel or LibreOffice, so it gets a leading apostrophe (OWASP's advice)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _safe_next(target: str) -> str:
    """Only a path on this site: never another host to be sent to after signing in."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def engine_of(app: FastAPI) -> Engine:
    """The store an app reads and writes (for the command line and tests)."""
    engine: Engine = app.state.engine
    return engine
