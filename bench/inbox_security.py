"""Benchmark: the inbox attacked as a penetration tester would, on loopback; a table of
attack and result.

It makes a small store of its own (a professional, a duty manager and one alert, argon2
hashes of known passwords), serves it with the real app under uvicorn in a separate
process, and sends each attack over HTTP. The server's resident memory is read from
/proc before and after the attacks that try to make it allocate (its peak, VmHWM, is what
counts). Prints a markdown table for docs/inbox.md.

    .venv/bin/python bench/inbox_security.py [--out /tmp/jsec]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

# This folder's alerts.py would stand in for the alerts package: look from the top.
ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)

CONFIG = ROOT / "pipelines" / "config" / "alerts.yaml"
SECRET = "a bench secret of more than sixteen characters"
PASSWORD = "correct horse battery staple"
REFERENCE = "SECBENCH01"


def _store(folder: Path) -> str:
    """A store with two accounts and one alert routed to the professional's team."""
    import sqlalchemy as sa

    import inbox.tables  # noqa: F401  (its tables join the store's metadata)
    from alerts.store import ALERTS, open_store
    from inbox.users import add_user

    url = f"sqlite:///{folder / 'store.sqlite'}"
    engine = open_store(url)
    now = dt.datetime.now(dt.UTC)
    add_user(engine, "mash_north", PASSWORD, "professional", now, team="mash_north")
    add_user(engine, "duty_manager", PASSWORD, "duty_manager", now, team="duty_manager")
    with engine.begin() as conn:
        conn.execute(
            sa.insert(ALERTS).values(
                reference=REFERENCE,
                person_id="P-bench",
                night=now.date(),
                kind="new_high",
                triggers_json="[]",
                dedup_key="bench",
                band="high",
                score=0.7,
                reasons_json="[]",
                routed_team="mash_north",
                routed_to="mash_north",
                recipient_kind="team",
                routing_rule="bench",
                state="delivered",
                notify_night=now.date(),
                created_at=now.replace(tzinfo=None),
                updated_at=now.replace(tzinfo=None),
                version=1,
            )
        )
    engine.dispose()
    return url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _memory(pid: int) -> tuple[int, int]:
    """(resident now, peak resident) of a process, in MB."""
    text = Path(f"/proc/{pid}/status").read_text()
    now = int(re.search(r"VmRSS:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    peak = int(re.search(r"VmHWM:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    return now // 1024, peak // 1024


async def _declared(base: str, length: int) -> str:
    """POST /signin declaring `length` bytes and sending a few: the status answered."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /signin HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\nusername=x".encode()
    )
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    return line.decode().split(" ", 2)[1]


async def _form(client: httpx.AsyncClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', (await client.get(path)).text)
    assert found is not None, path
    return found.group(1)


async def _sign_in(base: str, username: str, password: str, **headers: str) -> int:
    async with httpx.AsyncClient(base_url=base, headers=headers) as c:
        token = await _form(c, "/signin")
        answer = await c.post(
            "/signin", data={"username": username, "password": password, "csrf": token}
        )
        return answer.status_code


async def _signed_in(base: str, username: str) -> httpx.AsyncClient:
    c = httpx.AsyncClient(base_url=base)
    token = await _form(c, "/signin")
    done = await c.post("/signin", data={"username": username, "password": PASSWORD, "csrf": token})
    assert done.status_code == 303, done.status_code
    return c


async def _attacks(base: str, pid: int, url: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    me = await _signed_in(base, "mash_north")
    manager = await _signed_in(base, "duty_manager")  # before any guessing holds the address
    page = await me.get(f"/alerts/{REFERENCE}")
    h = page.headers
    framed = "frame-ancestors 'none'" in h["content-security-policy"]
    rows.append(
        (
            "frame an alert page from another site",
            f"refused by the browser: `X-Frame-Options: {h['x-frame-options']}`, CSP "
            f"`frame-ancestors 'none'` ({'present' if framed else 'MISSING'})",
        )
    )
    rows.append(
        (
            "a browser or proxy keeping a page with personal data",
            f"`Cache-Control: {h['cache-control']}`, `Referrer-Policy: {h['referrer-policy']}`, "
            f"`X-Content-Type-Options: {h['x-content-type-options']}`",
        )
    )
    before = _memory(pid)

    async def body() -> AsyncIterator[bytes]:
        chunk = b"x" * 1_048_576
        for _ in range(200):
            yield chunk

    async with httpx.AsyncClient(base_url=base) as anon:
        try:
            answer = await anon.post(
                f"/alerts/{REFERENCE}/notes",
                content=body(),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            status = str(answer.status_code)
        except httpx.HTTPError as exc:  # the server closed the connection after its 413
            status = f"connection closed ({type(exc).__name__})"
    declared = await _declared(base, 200_000_000)
    after = _memory(pid)
    rows.append(
        (
            "unauthenticated 200 MB streamed body (no length), and one declaring 200 MB",
            f"{status} and {declared}; the server's peak resident memory "
            f"{before[1]} MB before, {after[1]} MB after",
        )
    )
    results = await asyncio.gather(
        *(
            _sign_in(base, "duty_manager", "guess", **{"x-forwarded-for": f"10.0.0.{i}"})
            for i in range(20)
        )
    )
    rows.append(
        (
            "20 wrong passwords at once for the duty manager, each with another `X-Forwarded-For`",
            f"{dict(sorted(Counter(results).items()))}: five checked, the header ignored "
            "(no trusted proxy)",
        )
    )
    right = await _sign_in(base, "duty_manager", PASSWORD)
    rows.append(
        (
            "then the right password from the same address",
            f"{right}: held with the rest; the owner from another address is not "
            "(tests/inbox/test_throttle.py)",
        )
    )
    before = _memory(pid)
    results = await asyncio.gather(
        *(_sign_in(base, f"nobody{i}@example.org", "guess") for i in range(30))
    )
    after = _memory(pid)
    rows.append(
        (
            "30 sign-ins at once for unknown users (argon2, 64 MiB each)",
            f"{dict(sorted(Counter(results).items()))}; peak resident memory {before[1]} MB "
            f"before, {after[1]} MB after (at most 2 checks at once)",
        )
    )
    forged = await me.post(
        f"/alerts/{REFERENCE}/acknowledge", data={"csrf": "x" * 43, "version": "1"}
    )
    rows.append(("acknowledge with a forged CSRF token", f"{forged.status_code}, audited"))
    snooze = await me.post(
        f"/alerts/{REFERENCE}/snooze",
        data={
            "csrf": await _form(me, f"/alerts/{REFERENCE}"),
            "version": "1",
            "until": "9999-12-31",
            "reason": "r",
        },
    )
    rows.append(("snooze until 9999-12-31", f"{snooze.status_code}: at most 28 days"))
    await _sign_in(base, '=HYPERLINK("http://evil.example")', "guess")
    exported = (await manager.get("/audit.csv")).text
    cells = [c for row in csv.reader(io.StringIO(exported)) for c in row[1:]]
    live = [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    kept = any(c.lower().startswith("'=hyperlink") for c in cells)
    rows.append(
        (
            "a sign-in typed as a spreadsheet formula, then the audit CSV exported",
            f"{len(live)} cells a spreadsheet would run; the line kept as text "
            f"({'yes' if kept else 'NO'})",
        )
    )
    await me.aclose()
    await manager.aclose()
    # Tamper with the log as someone holding the file would, then ask the command.
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    db.execute("DROP TRIGGER IF EXISTS inbox_audit_no_update")
    db.execute("UPDATE inbox_audit_log SET actor = 'someone' WHERE action = 'view'")
    db.commit()
    db.close()
    env = os.environ | {"JOINEDUP_STORE": url}
    verify = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "inbox", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    rows.append(
        (
            "audit triggers dropped and a line's actor changed in the file",
            f"`joinedup inbox audit verify` exit {verify.returncode}: {verify.stdout.strip()}",
        )
    )
    mode = oct(Path(url.removeprefix("sqlite:///")).stat().st_mode & 0o777)
    rows.append(("the store file's permissions (umask 022)", mode))
    return rows


def main() -> None:
    """Make the store, serve it, attack it, print the table."""
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path, help="a folder for the store (a temporary one if not)")
    args = p.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="jsec"))
    folder.mkdir(parents=True, exist_ok=True)
    os.umask(0o022)
    url = _store(folder)
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import uvicorn, sys; from pathlib import Path; from inbox.app import create_app; "
            f"uvicorn.run(create_app({url!r}, Path({str(CONFIG)!r}), {SECRET!r}), "
            f"host='127.0.0.1', port={port}, log_level='warning', proxy_headers=False)",
        ],
        cwd=ROOT,
        env=os.environ | {"JOINEDUP_SMTP_URL": "mailto://127.0.0.1:2525"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(f"{base}/signin")
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        started = _memory(server.pid)
        rows = asyncio.run(_attacks(base, server.pid, url))
    finally:
        server.terminate()
        server.wait(30)
    print(f"server: the real app under uvicorn, one process; resident {started[0]} MB at start")
    print("| attack | result |")
    print("|---|---|")
    for attack, result in rows:
        print(f"| {attack} | {result} |")


if __name__ == "__main__":
    main()
