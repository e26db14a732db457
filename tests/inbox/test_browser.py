"""The inbox in a real browser: Debian's Chromium, driven by Playwright, against the real
app served by uvicorn on loopback over a filled SQLite store.

One journey, read off the pages as a person sees them: a professional signs in and sees
their team's alerts only, opens one, acknowledges it, adds a note and forwards it to a
partner colleague; the colleague signs in, finds it in their list with the same case
pack and closes it with an outcome; the duty manager reads every step in the audit log.
And a note written as a script is shown as text, never run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CONFIG, PASSWORD, SECRET, fill
from playwright.sync_api import Browser, Dialog, Locator, Page, expect, sync_playwright
from servers import CHROMIUM_ARGS, free_port, uvicorn_on_loopback

from alerts.store import open_store
from inbox.app import create_app, engine_of

CHROMIUM = shutil.which("chromium")
TIMEOUT_MS = 20_000  # a loaded two-core machine runs the whole suite beside this

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium is not on PATH: run scripts/install-test-servers (as root)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module (Debian's, never a downloaded build)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real app over a filled SQLite store, served by uvicorn on a free loopback port."""
    monkeypatch.setenv("JOINEDUP_SMTP_URL", "mailto://127.0.0.1:2525")
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = open_store(url)
    fill(store)
    store.dispose()
    app = create_app(url, CONFIG, SECRET)
    try:
        with uvicorn_on_loopback(app, free_port()) as origin:
            yield origin
    finally:
        engine_of(app).dispose()


@pytest.fixture
def page(browser: Browser, served: str) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the served inbox."""
    context = browser.new_context(base_url=served, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, username: str) -> None:
    """Sign in through the form, as a person does."""
    page.goto("/signin")
    page.get_by_label("Sign-in").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def sign_out(page: Page) -> None:
    """Sign out with the header's button."""
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def form(page: Page, button: str) -> Locator:
    """The form on an alert page holding the button named `button`."""
    return page.locator("form").filter(has=page.get_by_role("button", name=button))


def expect_listed(page: Page, references: list[str]) -> None:
    """The alert list shows exactly these references, top to bottom."""
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    expect(page.locator("tbody tr td:first-child")).to_have_text(references)


def test_journey_in_the_browser_from_sign_in_to_the_audit_log(page: Page) -> None:
    sign_in(page, "mash_north")
    expect_listed(page, ["TEAMNORTH1", "TEAMNORTH2"])  # not the police's, not adults'
    expect(page.get_by_text("mash_north (professional)")).to_be_visible()

    page.get_by_role("link", name="TEAMNORTH1").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alert TEAMNORTH1: ALICE TESTER, 14")
    expect(page.locator("#why")).to_contain_text("4 events in the last 12 months")
    expect(page.locator("#involved")).to_contain_text("Pat Reid (officer, PPU, police)")
    expect(page.locator("#involved")).to_contain_text("Known to: police, education")
    expect(page.locator("#timeline tbody tr")).to_have_text(
        ["2026-10-01 police missing episode high"], use_inner_text=True
    )
    expect(page.locator("#household")).to_contain_text("ROSA TESTER, 40 · parent")
    expect(page.locator("#state")).to_have_text("delivered")
    expect(page.locator("#state-meaning")).to_have_text(
        "Delivered: a message about it was sent; nobody has taken ownership yet."
    )
    expect(page.locator("#trigger")).to_contain_text("New: risk is now high")
    expect(page.locator("#score")).to_contain_text("about 81 in 100 had a serious event")

    page.get_by_role("button", name="Acknowledge (take ownership)").click()
    expect(page.locator("#state")).to_have_text("acknowledged")
    expect(page.get_by_text("acknowledged by mash_north")).to_be_visible()

    note = form(page, "Add note")
    note.get_by_label("Note").fill("School reports three missed days this week.")
    note.get_by_role("button", name="Add note").click()
    expect(page.locator("#notes .note")).to_have_text(
        ["School reports three missed days this week."]
    )

    forward = form(page, "Forward")
    # A colleague is chosen from the directory: by name, team and agency, not a sign-in.
    picker = forward.get_by_label("Forward to")
    expect(picker.locator("option")).to_have_text(
        [
            "Choose a colleague",
            "Lee Hart (adult social care)",
            "Pat Reid (police)",
            "Sam Okafor (Safeguarding duty manager)",
        ]
    )
    picker.select_option(label="Pat Reid (police)")
    forward.get_by_label("Note").fill("Pat: the missing episodes are yours; over to you.")
    forward.get_by_role("button", name="Forward").click()
    expect(page.locator("#state")).to_have_text("forwarded")
    expect(page.locator("#notes")).to_contain_text(
        "Forwarded by mash_north to pat.reid@police.example"
    )
    expect(page.locator("#notes .note").last).to_have_text(
        "Pat: the missing episodes are yours; over to you."
    )
    sign_out(page)
    page.goto("/alerts")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # the session ended

    sign_in(page, "pat.reid@police.example")
    expect_listed(page, ["POLICEPAT1", "TEAMNORTH1"])  # 0.9 first; forwarded to me
    page.get_by_role("link", name="TEAMNORTH1").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alert TEAMNORTH1: ALICE TESTER, 14")
    expect(page.locator("#timeline")).to_contain_text("missing episode")  # the same case pack
    expect(page.locator("#household")).to_contain_text("ROSA TESTER")
    expect(page.locator("#notes")).to_contain_text("over to you")

    close = form(page, "Close")
    close.get_by_label("Outcome").select_option(label="Support offered")
    close.get_by_label("What was done").fill("Visited with the school nurse; support in place.")
    close.get_by_role("button", name="Close").click()
    expect(page.locator("#state")).to_have_text("closed")
    expect(page.locator("#notes .note").last).to_have_text(
        "Visited with the school nurse; support in place."
    )
    expect(page.get_by_role("button", name="Acknowledge (take ownership)")).to_have_count(0)
    sign_out(page)

    sign_in(page, "duty_manager")
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    page.wait_for_load_state()
    rows = page.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.innerText.trim()))"
    )
    steps = [
        (who, action, detail) for _, who, _, action, ref, detail in rows if ref == "TEAMNORTH1"
    ]
    steps.reverse()  # the page shows the newest first
    pat = "pat.reid@police.example"
    assert steps[0] == ("mash_north", "view", "")  # opening it, before anything else
    assert {who for who, action, _ in steps if action == "view"} == {"mash_north", pat}
    assert [step for step in steps if step[1] != "view"] == [
        ("mash_north", "acknowledge", ""),
        ("mash_north", "note", "43 characters"),
        ("mash_north", "forward", f"to {pat}"),
        (pat, "close", "outcome support_offered"),
    ]
    signs = [
        (who, action)
        for _, who, _, action, ref, _ in rows
        if not ref and action != "account_created"  # the accounts' making, before the test
    ][::-1]
    assert signs == [
        ("mash_north", "sign_in"),
        ("mash_north", "sign_out"),
        (pat, "sign_in"),
        (pat, "sign_out"),
        ("duty_manager", "sign_in"),
        ("duty_manager", "view_audit"),  # the audit page's own view is audited too
    ]
    body = page.locator("main").inner_text()
    assert "missed days" not in body and "school nurse" not in body  # never a note's text


def test_a_note_written_as_a_script_is_shown_as_text_and_never_runs(page: Page) -> None:
    dialogs: list[str] = []

    def dismissed(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismissed)
    sign_in(page, "mash_north")
    page.goto("/alerts/TEAMNORTH1")
    text = '<script>window.ran = 1; alert("script")</script><img src=x onerror="alert(2)">'
    note = form(page, "Add note")
    note.get_by_label("Note").fill(text)
    note.get_by_role("button", name="Add note").click()
    shown = page.locator("#notes .note")
    expect(shown).to_have_text(text)  # every character as written
    assert shown.locator("script, img").count() == 0  # text, not elements
    page.reload()
    expect(shown).to_have_text(text)
    assert page.evaluate("window.ran") is None
    assert dialogs == []
