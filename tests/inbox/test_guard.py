"""What every response carries and every request may not exceed (issue 19): security
headers on every page, bodies refused before parsing, cookies marked Secure over HTTPS, a
cap on password checks at once, and an audit export a spreadsheet cannot run."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import NOW, PASSWORD, Inbox, csrf_of
from fastapi.testclient import TestClient

from inbox import users
from inbox.guard import FORM_BYTES, SIGN_IN_BYTES
from inbox.tables import AUDIT_LOG


def _csp(answer_headers: dict[str, str]) -> dict[str, str]:
    policy = answer_headers["content-security-policy"]
    return {part.split()[0]: part.split(" ", 1)[1] for part in policy.split("; ")}


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("", "/signin", 200),
        ("", "/alerts", 200),  # the sign-in page, shown in its place
        ("mash_north", "/alerts", 200),
        ("mash_north", "/alerts/TEAMNORTH1", 200),
        ("mash_north", "/audit", 403),
        ("duty_manager", "/audit.csv", 200),
        ("mash_north", "/no/such/page", 404),
    ],
)
def test_every_response_carries_the_security_headers(
    inbox: Inbox, who: str, path: str, status: int
) -> None:
    answer = inbox.client(who).get(path)
    assert answer.status_code == status
    h = answer.headers
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert h["referrer-policy"] == "no-referrer"
    assert h["cache-control"] == "no-store"
    csp = _csp(dict(h))
    assert csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    assert csp["form-action"] == "'self'" and "script-src" not in csp
    style = re.search(r"<style>(.*?)</style>", answer.text, re.S)
    if style:  # the page's one stylesheet is the one the policy allows, by its hash
        digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
        assert csp["style-src"] == f"'sha256-{digest}'"


def test_a_body_over_its_routes_limit_is_refused_before_it_is_read(inbox: Inbox) -> None:
    client = inbox.client("")
    token = csrf_of(client, "/signin")
    big = {
        "username": "mash_north",
        "password": PASSWORD,
        "csrf": token,
        "pad": "x" * SIGN_IN_BYTES,
    }
    answer = client.post("/signin", data=big, follow_redirects=False)
    assert answer.status_code == 413 and "at most 8,192 bytes" in answer.text
    assert "joinedup_session" not in answer.cookies  # the right password was never read
    # Unsigned in, on an action's route: refused by size before the session is looked at.
    answer = client.post("/alerts/TEAMNORTH1/notes", content=b"x" * (FORM_BYTES + 1))
    assert answer.status_code == 413

    def stream() -> Iterator[bytes]:  # no declared length: counted as it comes
        for _ in range(64):
            yield b"y" * 32_768

    answer = client.post(
        "/alerts/TEAMNORTH1/notes",
        content=stream(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413
    answer = client.post(
        "/signin", content=b"", headers={"content-length": "200000000"}, follow_redirects=False
    )
    assert answer.status_code == 413
    # A signed-in professional's note of ordinary length still goes through.
    me = inbox.client("mash_north")
    page = me.get("/alerts/TEAMNORTH1").text
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version is not None
    done = me.post(
        "/alerts/TEAMNORTH1/notes",
        data={
            "csrf": csrf_of(me, "/alerts/TEAMNORTH1"),
            "version": version.group(1),
            "text": "Called the school; will visit Thursday. " * 50,
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


def test_cookies_are_secure_over_https_only(inbox: Inbox) -> None:
    for base, secure in (("https://inbox.council.example", True), ("http://127.0.0.1:8000", False)):
        app = inbox.client("").app
        with TestClient(app, base_url=base) as client:
            form = client.get("/signin")
            assert ("secure" in form.headers["set-cookie"].lower()) is secure
            token = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert token is not None
            done = client.post(
                "/signin",
                data={"username": "mash_north", "password": PASSWORD, "csrf": token.group(1)},
                follow_redirects=False,
            )
            assert done.status_code == 303
            session = [c for c in done.headers.get_list("set-cookie") if "joinedup_session" in c]
            assert session and ("secure" in session[0].lower()) is secure


def test_password_checks_are_capped_and_the_rest_told_to_wait(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = threading.BoundedSemaphore(users.HASHES_AT_ONCE)
    for _ in range(users.HASHES_AT_ONCE):
        assert taken.acquire(blocking=False)  # every check in use by other sign-ins
    monkeypatch.setattr(users, "_HASHING", taken)
    monkeypatch.setattr(users, "HASH_WAIT_SECONDS", 0.05)
    client = inbox.client("")
    token = csrf_of(client, "/signin")
    answer = client.post(
        "/signin",
        data={"username": "mash_north", "password": PASSWORD, "csrf": token},
        follow_redirects=False,
    )
    assert answer.status_code == 503 and "busy checking sign-ins" in answer.text
    assert "joinedup_session" not in answer.cookies
    taken.release()  # one comes free: the same sign-in goes through
    token = re.search(r'name="csrf" value="([^"]+)"', answer.text)
    assert token is not None
    answer = client.post(
        "/signin",
        data={"username": "mash_north", "password": PASSWORD, "csrf": token.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def test_the_audit_export_holds_no_formula(inbox: Inbox) -> None:
    nasty = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx"]
    with inbox.engine.begin() as conn:
        for text in nasty:
            conn.execute(
                sa.insert(AUDIT_LOG).values(
                    at=NOW, actor=text, role="admin", action="view", reference=None, detail=text
                )
            )
    rows = list(csv.reader(io.StringIO(inbox.client("duty_manager").get("/audit.csv").text)))
    cells = [cell for row in rows[1:] for cell in row[1:]]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    for text in nasty:
        assert "'" + text in cells  # kept, word for word, as text


def test_the_store_and_the_warehouse_are_made_for_their_owner_only(tmp_path: Path) -> None:
    from alerts.store import open_store
    from connectors.warehouse import connect

    old = os.umask(0o022)  # a umask that would leave new files readable by everyone
    try:
        engine = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT 1"))
        con = connect(tmp_path / "warehouse.duckdb")
        con.execute("CREATE TABLE t (a INTEGER)")
        con.close()
        engine.dispose()
    finally:
        os.umask(old)
    modes = {f.name: f.stat().st_mode & 0o777 for f in tmp_path.iterdir()}
    assert modes and set(modes.values()) == {0o600}, modes
    assert {"store.sqlite", "warehouse.duckdb"} <= set(modes)


def test_a_session_left_idle_for_thirty_minutes_ends(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    import inbox.app as inbox_app

    client = inbox.client("mash_north")
    start = dt.datetime.now(dt.UTC)

    def at(minutes: int) -> None:
        monkeypatch.setattr(inbox_app, "_now", lambda: start + dt.timedelta(minutes=minutes))

    at(29)
    assert client.get("/alerts", follow_redirects=False).status_code == 200
    at(58)  # 58 minutes signed in, but only 29 since the last request
    assert client.get("/alerts", follow_redirects=False).status_code == 200
    at(89)  # 31 minutes without a request
    answer = client.get("/alerts", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")
