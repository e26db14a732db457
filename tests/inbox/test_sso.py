"""Single sign-on against a real OpenID Connect provider on loopback.

The provider is django-oauth-toolkit's (tests/oidcprovider), started by the tests; the
inbox is the real app under uvicorn. A person's browser is an httpx client that follows
redirects and keeps cookies per host, as a browser does: the inbox is on 127.0.0.1 and
the provider on localhost, so neither sees the other's cookies.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from conftest import CONFIG, PASSWORD, SECRET, fill
from servers import OidcProvider, free_port, oidc_provider, uvicorn_on_loopback

from alerts.store import open_store
from inbox.app import create_app, engine_of
from inbox.tables import AUDIT_LOG, USERS

PROVIDER_PASSWORD = "a council password"


@dataclass
class Served:
    url: str
    engine: sa.Engine
    provider: OidcProvider


def sso_config(folder: Path, inbox: str, issuer: str, client_id: str, passwords: bool) -> Path:
    """The test's alerts config, with single sign-on through the provider."""
    config = yaml.safe_load(CONFIG.read_text())
    config["inbox_url"] = f"{inbox}/alerts/{{reference}}"
    config["sign_in"] = {
        "issuer": issuer,
        "client_id": client_id,
        "client_secret_env": "JOINEDUP_TEST_OIDC_SECRET",
        "label": "Sign in with your council account",
        "passwords": passwords,
    }
    path = folder / f"alerts-{passwords}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[OidcProvider, int]]:
    """The provider, with the inbox's callback on a port chosen now registered with it."""
    port = free_port()
    with oidc_provider(f"http://127.0.0.1:{port}/signin/oidc/callback") as running:
        yield running, port


def serve(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    provider: tuple[OidcProvider, int],
    passwords: bool = True,
) -> Iterator[Served]:
    running, port = provider
    inbox = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("JOINEDUP_SMTP_URL", "mailto://127.0.0.1:2525")
    monkeypatch.setenv("JOINEDUP_TEST_OIDC_SECRET", running.client_secret)
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = open_store(url)
    fill(store)
    store.dispose()
    config = sso_config(tmp_path, inbox, running.issuer, running.client_id, passwords)
    app = create_app(url, config, SECRET)
    try:
        with uvicorn_on_loopback(app, port):
            yield Served(inbox, engine_of(app), running)
    finally:
        engine_of(app).dispose()


@pytest.fixture
def served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: tuple[OidcProvider, int]
) -> Iterator[Served]:
    yield from serve(tmp_path, monkeypatch, provider)


@pytest.fixture
def sso_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: tuple[OidcProvider, int]
) -> Iterator[Served]:
    yield from serve(tmp_path, monkeypatch, provider, passwords=False)


def through_provider(
    inbox: str, name: str, password: str = PROVIDER_PASSWORD, next: str = "/alerts"
) -> httpx.Response:
    """A person's browser: the inbox's sign-in button, the provider's sign-in form, and
    back; the last response after every redirect has been followed."""
    browser = httpx.Client(follow_redirects=True, timeout=30)
    signin = browser.get(f"{inbox}/signin", params={"next": next})
    button = re.search(r'href="(/signin/oidc\?next=[^"]+)"', signin.text)
    assert button is not None, "the sign-in page has no single sign-on button"
    at_provider = browser.get(f"{inbox}{button.group(1)}")
    assert at_provider.url.host == "localhost", at_provider.url
    assert "Council sign-in" in at_provider.text
    form = {
        k: html.unescape(v)
        for k, v in re.findall(
            r'name="(csrfmiddlewaretoken|next)" value="([^"]*)"', at_provider.text
        )
    }
    back = browser.post(
        str(at_provider.url.copy_with(query=None)),
        data={**form, "username": name, "password": password},
    )
    back.extensions["browser"] = browser  # the test may go on in the same browser
    return back


def shown(page: httpx.Response) -> str:
    """A page's text as a person reads it (entities turned back into characters)."""
    return html.unescape(page.text)


def audit_lines(engine: sa.Engine, action: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            (r.actor, r.detail)
            for r in conn.execute(
                sa.select(AUDIT_LOG.c.actor, AUDIT_LOG.c.detail)
                .where(AUDIT_LOG.c.action == action)
                .order_by(AUDIT_LOG.c.id)
            )
        ]


def subject_of(engine: sa.Engine, username: str) -> str | None:
    with engine.connect() as conn:
        found: str | None = conn.execute(
            sa.select(USERS.c.oidc_subject).where(USERS.c.username == username)
        ).scalar_one()
        return found


def test_a_professional_signs_in_through_the_council_provider_and_sees_their_alerts(
    served: Served,
) -> None:
    name = "pat.reid@police.example"
    served.provider.person(name, PROVIDER_PASSWORD, name)
    landed = through_provider(served.url, name)
    assert landed.status_code == 200, (landed.url, landed.text[:3000])
    assert landed.url == httpx.URL(f"{served.url}/alerts")
    assert "POLICEPAT1" in landed.text and "TEAMNORTH1" not in landed.text  # their own only
    assert (name, "single sign-on") in audit_lines(served.engine, "sign_in")
    assert subject_of(served.engine, name)  # bound at this first sign-in
    # The flow's cookie is gone: only the inbox's session remains.
    browser: httpx.Client = landed.extensions["browser"]
    assert "joinedup_sso" not in browser.cookies
    assert browser.cookies.get("joinedup_session", domain="127.0.0.1")


def test_a_wrong_council_password_never_reaches_the_inbox(served: Served) -> None:
    name = "lee.hart@adults.council.example"
    served.provider.person(name, PROVIDER_PASSWORD, name)
    stayed = through_provider(served.url, name, password="not the password")
    assert stayed.url.host == "localhost" and "Wrong name or password" in shown(stayed)
    assert audit_lines(served.engine, "sign_in") == []


def test_someone_the_provider_knows_but_the_inbox_does_not_is_refused_and_audited(
    served: Served,
) -> None:
    served.provider.person("new.starter", PROVIDER_PASSWORD, "new.starter@council.example")
    refused = through_provider(served.url, "new.starter")
    assert refused.status_code == 403
    assert "You have no inbox account: ask the inbox's admin to add you." in shown(refused)
    assert ("new.starter", "sso: no open account new.starter") in audit_lines(
        served.engine, "sign_in_failed"
    )


def test_a_leaver_is_refused_though_the_provider_still_signs_them_in(served: Served) -> None:
    served.provider.person("analyst", PROVIDER_PASSWORD, "analyst@council.example")
    with served.engine.begin() as conn:
        conn.execute(
            sa.update(USERS)
            .where(USERS.c.username == "analyst")
            .values(left_at=dt.datetime(2026, 11, 2))
        )
    refused = through_provider(served.url, "analyst")
    assert refused.status_code == 403
    assert "You have no inbox account" in shown(refused)


def test_a_name_the_provider_reuses_for_someone_new_does_not_open_the_old_account(
    served: Served,
) -> None:
    served.provider.person("mash_north", PROVIDER_PASSWORD, "mash.north@council.example")
    assert through_provider(served.url, "mash_north").status_code == 200
    first = subject_of(served.engine, "mash_north")
    # The first team account's account is renamed at the provider and a newcomer given the name.
    served.provider.rename("mash_north", "mash_north.left")
    served.provider.person("mash_north", PROVIDER_PASSWORD, "mash.north@council.example")
    refused = through_provider(served.url, "mash_north")
    assert refused.status_code == 403
    assert "belongs to someone else's council account" in shown(refused)
    assert subject_of(served.engine, "mash_north") == first
    assert ("mash_north", "sso: mash_north is bound to another subject") in audit_lines(
        served.engine, "sign_in_failed"
    )


def test_a_callback_not_started_by_this_browser_or_replayed_is_refused(served: Served) -> None:
    name = "duty_manager"
    served.provider.person(name, PROVIDER_PASSWORD, "duty@council.example")
    landed = through_provider(served.url, name)
    assert landed.status_code == 200
    callback = str(landed.history[-1].url)  # the provider's redirect back, code and state
    assert "/signin/oidc/callback?" in callback
    # Another browser (an attacker's link) and the same browser again: both refused.
    stranger = httpx.get(callback, follow_redirects=True)
    again = landed.extensions["browser"].get(callback)
    for refused in (stranger, again):
        assert refused.status_code == 403
        assert "Your council sign-in did not complete" in shown(refused)
    assert sum(d.startswith("sso: ") for _, d in audit_lines(served.engine, "sign_in_failed")) == 2


def test_with_passwords_off_only_the_provider_opens_an_account(sso_only: Served) -> None:
    browser = httpx.Client(timeout=30)
    form = browser.get(f"{sso_only.url}/signin")
    assert 'name="password"' not in form.text and "/signin/oidc" in form.text
    token = browser.cookies["joinedup_signin"]
    refused = browser.post(
        f"{sso_only.url}/signin",
        data={"username": "admin", "password": PASSWORD, "csrf": token, "next": "/"},
    )
    assert refused.status_code == 403
    assert "joinedup_session" not in browser.cookies
    assert ("admin", "passwords are off: single sign-on only") in audit_lines(
        sso_only.engine, "sign_in_failed"
    )
    sso_only.provider.person("admin", PROVIDER_PASSWORD, "admin@council.example")
    assert through_provider(sso_only.url, "admin", next="/").url == httpx.URL(
        f"{sso_only.url}/audit"
    )


def test_a_missing_client_secret_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOINEDUP_TEST_OIDC_SECRET", raising=False)
    monkeypatch.setenv("JOINEDUP_SMTP_URL", "mailto://127.0.0.1:2525")
    config = sso_config(tmp_path, "http://127.0.0.1:9", "http://localhost:9/o", "x", True)
    with pytest.raises(ValueError, match="JOINEDUP_TEST_OIDC_SECRET"):
        create_app(f"sqlite:///{tmp_path / 'store.sqlite'}", config, SECRET)
