"""The authorisation matrix: every route, for every role (and for nobody signed in),
including someone else's alert by URL. A route the app gains without a row here fails."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from conftest import CONFIG, PASSWORD, SECRET, Inbox, csrf_of
from fastapi.routing import APIRoute

from inbox.app import create_app

ROLES = {
    "nobody": "",
    "professional": "mash_north",
    "other professional": "pat.reid@police.example",
    "duty manager": "duty_manager",
    "analyst": "analyst",
    "admin": "admin",
    "manager": "manager",
}
ALERT = "TEAMNORTH1"  # routed to mash_north's team

# A snooze end the config allows (alerts.yaml: at most 28 days ahead).
SOON = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)).isoformat()

FORMS = {
    "acknowledge": {"version": "1"},
    "forward": {"version": "1", "to": "lee.hart@adults.council.example", "note": "n"},
    "notes": {"text": "a note"},
    "snooze": {"version": "1", "until": SOON, "reason": "r"},
    "close": {"version": "1", "outcome": "no_further_action", "text": "t"},
    # an admin's, on the analyst's account or a joiner's
    "users": {"username": "joiner1", "role": "professional"},
    "move": {"role": "analyst", "team": ""},
    "leave": {},
    "revoke": {},
}


def _row(**codes: int) -> dict[str, int]:
    return {role.replace("_", " "): code for role, code in codes.items()}


_ACT = _row(
    nobody=401,
    professional=303,
    other_professional=404,
    duty_manager=303,
    analyst=403,
    admin=403,
    manager=403,
)
_SEE = _row(
    nobody=303,
    professional=200,
    other_professional=404,
    duty_manager=200,
    analyst=403,
    admin=403,
    manager=403,
)
_MANAGE = _row(
    nobody=303,
    professional=403,
    other_professional=403,
    duty_manager=200,
    analyst=403,
    admin=200,
    manager=403,
)
_ADMIN_SEE = _row(
    nobody=303,
    professional=403,
    other_professional=403,
    duty_manager=403,
    analyst=403,
    admin=200,
    manager=403,
)
_ADMIN_ACT = _row(
    nobody=401,
    professional=403,
    other_professional=403,
    duty_manager=403,
    analyst=403,
    admin=303,
    manager=403,
)
# The insight page and its export: this app has no warehouse, so those let in are told so.
_INSIGHT = _row(
    nobody=303,
    professional=403,
    other_professional=403,
    duty_manager=503,
    analyst=503,
    admin=403,
    manager=503,
)

# (method, route path) -> role -> status
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/"): _row(
        nobody=303,
        professional=303,
        other_professional=303,
        duty_manager=303,
        analyst=303,
        admin=303,
        manager=303,
    ),
    ("GET", "/signin"): dict.fromkeys(ROLES, 200),
    ("POST", "/signin"): _row(
        nobody=401,
        professional=303,
        other_professional=303,
        duty_manager=303,
        analyst=303,
        admin=303,
        manager=303,
    ),
    ("POST", "/signout"): _row(
        nobody=401,
        professional=303,
        other_professional=303,
        duty_manager=303,
        analyst=303,
        admin=303,
        manager=303,
    ),
    ("GET", "/alerts"): _row(
        nobody=303,
        professional=200,
        other_professional=200,
        duty_manager=200,
        analyst=403,
        admin=403,
        manager=403,
    ),
    ("GET", "/alerts/{reference}"): _SEE,
    **{
        ("POST", f"/alerts/{{reference}}/{action}"): _ACT
        for action in ("acknowledge", "forward", "notes", "snooze", "close")
    },
    ("GET", "/audit"): _MANAGE,
    ("GET", "/audit.csv"): _MANAGE,
    ("GET", "/summary"): _row(
        nobody=303,
        professional=403,
        other_professional=403,
        duty_manager=200,
        analyst=200,
        admin=200,
        manager=200,
    ),
    ("GET", "/admin/users"): _ADMIN_SEE,
    ("POST", "/admin/users"): {**_ADMIN_ACT, "admin": 200},  # the first password, shown once
    **{
        ("POST", f"/admin/users/{{username}}/{act}"): _ADMIN_ACT
        for act in ("move", "leave", "revoke")
    },
    ("GET", "/insight"): _INSIGHT,
    ("GET", "/insight.json"): _INSIGHT,
}


def test_the_matrix_covers_every_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOINEDUP_SMTP_URL", "mailto://127.0.0.1:2525")
    app = create_app(f"sqlite:///{tmp_path / 's.sqlite'}", CONFIG, SECRET)
    routes = {
        (method, r.path) for r in app.routes if isinstance(r, APIRoute) for method in r.methods
    }
    assert routes == set(MATRIX)


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("route", list(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_authorisation(inbox: Inbox, route: tuple[str, str], role: str) -> None:
    method, path = route
    client = inbox.client(ROLES[role])
    url = path.replace("{reference}", ALERT).replace("{username}", "analyst")
    if method == "GET":
        answer = client.get(url, follow_redirects=False)
    elif path == "/signin":
        token = csrf_of(client, "/signin")
        answer = client.post(
            url,
            data={"username": ROLES[role] or "nobody", "password": PASSWORD, "csrf": token},
            follow_redirects=False,
        )
    else:
        form = dict(FORMS.get(path.rsplit("/", 1)[1], {}))
        if ROLES[role]:
            form["csrf"] = csrf_of(client, "/" if role != "nobody" else "/signin")
        answer = client.post(url, data=form, follow_redirects=False)
    assert answer.status_code == MATRIX[route][role], answer.text[:300]
    if answer.status_code == 303 and not ROLES[role]:
        assert answer.headers["location"].startswith("/signin")


def test_the_analyst_sees_counts_and_never_a_name_or_reference(inbox: Inbox) -> None:
    page = inbox.client("analyst").get("/summary").text
    assert '<td class="count">*</td>' in page  # four alerts: every count hidden
    # The sign-out form's CSRF token is random: it may hold "DEV", or ten capitals or
    # digits in a row, so the page is searched without it.
    without_token = re.sub(r'name="csrf" value="[^"]*"', "", page)
    assert 'name="csrf"' in page and without_token != page
    for name in ("ALICE", "BORIS", "CARA", "DEV", "TESTER"):
        assert name not in without_token
    assert not re.search(r"[0-9A-Z]{10}", without_token.replace("MASH", ""))
