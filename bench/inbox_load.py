"""Benchmark: 50 signed-in users browsing and acknowledging in the inbox, on loopback.

The store is made with our own code: a world (seed 7, one night) loaded and linked as
`bench/alerts.py` makes it (reused from `--dir`), that night's scores with `--alerts`
persons newly high, and `run_alerts` with the shipped config (case packs built from the
warehouse; digests to a local mailbox). Then `--users` inbox users with one known
password (argon2 hashes): duty managers, members of the teams with alerts, and the
professionals with the most alerts routed to them; and some earlier work done through
`inbox.actions` (acknowledged with a note, forwarded with a note, closed), so pages carry
notes and forwards. None of this is timed.

Each run is a fresh copy of that store served by the real app (`create_app`) under
uvicorn in separate processes sharing one listening socket on 127.0.0.1, so the load
generator does not share their GIL. Two workers by default, for two cores: one process
cannot use more than a core (its GIL), two can use both while the load generator (one
process, a fraction of a core) leaves them; more would only add switching and contention
for SQLite's write lock.

The load: one httpx AsyncClient per user (its own cookies) signs in through the form
(timed apart: argon2 is slow on purpose), then loops until the run's time is up: the list
(a quarter of the time filtered by a state), the sign-in page (the baseline: no
database), an alert from near the top of the list, and for some of them, when the page
offers it, acknowledge with the form's CSRF token and version (a 409 from someone
acknowledging it first is a valid answer, counted). Users wait a random think time
between requests (uniform, `--think` seconds on average; 0 makes every user click without
pause). The first `--warmup` seconds are not recorded. Before each run it notes the load
average and how many cores the machine keeps busy with nothing of ours running; during
it, how many cores the inbox, the load generator and everything else used.

    .venv/bin/python bench/inbox_load.py --dir /tmp/jbench-inbox --runs 3 [--postgres]
        [--think 0]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import os
import platform
import random
import re
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
# bench/alerts.py would shadow the alerts package: the project comes first on the path.
sys.path[:0] = [str(ROOT)]

CONFIG = ROOT / "pipelines" / "config" / "alerts.yaml"
PASSWORD = "a bench password for every user"
ACKABLE = ("held", "pending", "delivered", "forwarded", "snoozed")
PAGES = ("list", "filtered list", "alert", "acknowledge")  # "all pages" are these
BASELINE = "sign-in page"
TARGET_MS = 300.0

_REF = re.compile(r'<a href="/alerts/([0-9A-Z]+)">')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_VERSION = re.compile(r'name="version" value="(\d+)"')
_STATE = re.compile(r'<strong id="state">(\w+)</strong>')


def _bench_alerts() -> ModuleType:
    """bench/alerts.py, whose linked world and scores this benchmark reuses."""
    spec = importlib.util.spec_from_file_location("bench_alerts", ROOT / "bench" / "alerts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the store ----------------------------------------------------------------------------


@dataclass
class Users:
    """Who signs in (username, role), all with `PASSWORD`, and how long each one's list is."""

    people: list[tuple[str, str]]
    listed: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        """How many users of each kind, and how many alerts their lists hold."""
        kinds: dict[str, list[int]] = {}
        for name, role in self.people:
            kind = "duty managers" if role == "duty_manager" else "team members"
            kind = "professionals by email" if "@" in name else kind
            kinds.setdefault(kind, []).append(self.listed.get(name, 0))
        return "; ".join(
            f"{len(n)} {kind} with "
            + (f"{min(n):,}" if min(n) == max(n) else f"{min(n):,} to {max(n):,} (median "
               f"{statistics.median(n):,.0f})")
            for kind, n in kinds.items()
        )  # fmt: skip


def build_store(url: str, folder: Path, people: int, alerts: int, count: int, seed: int) -> Users:
    """Fill an empty store: a night's alerts from a linked world, users, earlier work."""
    from alerts import run_alerts
    from alerts.mailbox import LocalMailbox

    bench = _bench_alerts()
    warehouse, night = bench._linked(folder, people)
    bench._scores(warehouse, night, alerts, seed)
    now = dt.datetime.combine(night + dt.timedelta(days=1), dt.time(6), tzinfo=dt.UTC)
    with (
        tempfile.TemporaryDirectory(prefix="jbench-mail") as mail,
        LocalMailbox(Path(mail) / "box") as box,
    ):
        os.environ["JOINEDUP_SMTP_URL"] = box.url
        report = run_alerts(warehouse, night, url, CONFIG, now)
    print(f"store: {report.lines()[0]}")
    users = _add_users(url, count, now)
    _earlier_work(url, users, now + dt.timedelta(hours=2), seed)
    users.listed = _list_sizes(url, users)
    return users


def _add_users(url: str, count: int, now: dt.datetime) -> Users:
    """A tenth duty managers; of the rest, half the professionals with the most alerts
    routed to them (by email), the others members of the teams with alerts, in turn."""
    import sqlalchemy as sa

    from alerts.config import load_config
    from alerts.store import ALERTS, open_store
    from inbox.tables import DUTY_MANAGER, PROFESSIONAL
    from inbox.users import add_user

    config = load_config(CONFIG)
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            teams = [
                t
                for (t,) in conn.execute(
                    sa.select(ALERTS.c.routed_team)
                    .group_by(ALERTS.c.routed_team)
                    .order_by(sa.func.count().desc(), ALERTS.c.routed_team)
                )
                if t in config.teams and t != config.escalation.to
            ]
            managers = max(1, count // 10)
            emails = [
                e
                for (e,) in conn.execute(
                    sa.select(ALERTS.c.routed_to)
                    .where(ALERTS.c.recipient_kind == PROFESSIONAL)
                    .group_by(ALERTS.c.routed_to)
                    .order_by(sa.func.count().desc(), ALERTS.c.routed_to)
                    .limit((count - managers) // 2)
                )
            ]
        made: list[tuple[str, str]] = []
        for i in range(managers):
            add_user(
                engine, f"duty.manager{i + 1}", PASSWORD, DUTY_MANAGER, now,
                team=config.escalation.to,
            )  # fmt: skip
            made.append((f"duty.manager{i + 1}", DUTY_MANAGER))
        for email in emails:
            add_user(engine, email, PASSWORD, PROFESSIONAL, now, email=email)
            made.append((email, PROFESSIONAL))
        for i in range(count - len(made)):
            team = teams[i % len(teams)]
            name = f"{team}.{i // len(teams) + 1}"
            add_user(
                engine, name, PASSWORD, PROFESSIONAL, now,
                team=team, agency=config.teams[team].agency,
            )  # fmt: skip
            made.append((name, PROFESSIONAL))
    finally:
        engine.dispose()
    return Users(made)


def _earlier_work(url: str, users: Users, now: dt.datetime, seed: int) -> None:
    """A duty manager acknowledges a tenth of the alerts with a note, forwards a
    twentieth to a professional with a note, and closes a fiftieth."""
    import sqlalchemy as sa

    from alerts.store import ALERTS, open_store
    from inbox import actions
    from inbox.users import find_user

    engine = open_store(url)
    try:
        manager = find_user(engine, users.people[0][0])
        assert manager is not None
        professionals = [n for n, role in users.people if role == "professional"]
        with engine.connect() as conn:
            alerts = [
                tuple(r) for r in conn.execute(sa.select(ALERTS.c.reference, ALERTS.c.version))
            ]
        rng = random.Random(seed)
        rng.shuffle(alerts)
        tenth, twentieth, fiftieth = len(alerts) // 10, len(alerts) // 20, len(alerts) // 50
        note = "Spoke to the school's safeguarding lead; family known to early help. " * 3
        for ref, version in alerts[:tenth]:
            actions.acknowledge(engine, manager, ref, version, now)
            actions.add_note(engine, manager, ref, note, now)
        for ref, version in alerts[tenth : tenth + twentieth]:
            to = rng.choice(professionals)
            actions.forward(engine, manager, ref, version, to, note, now)
        for ref, version in alerts[tenth + twentieth : tenth + twentieth + fiftieth]:
            actions.close(engine, manager, ref, version, "support_offered", note, now)
    finally:
        engine.dispose()


def _list_sizes(url: str, users: Users) -> dict[str, int]:
    """How many alerts each user's list holds."""
    from alerts.store import open_store
    from inbox.actions import list_alerts
    from inbox.users import find_user

    engine = open_store(url)
    try:
        found = {name: find_user(engine, name) for name, _ in users.people}
        return {name: len(list_alerts(engine, u, None)) for name, u in found.items() if u}
    finally:
        engine.dispose()


def describe_store(url: str) -> str:
    """The data's size: alerts by state, case pack bytes, notes and forwards."""
    import sqlalchemy as sa

    from alerts.store import ALERTS, CASE_PACKS, open_store
    from inbox.tables import FORWARDS, NOTES

    engine = open_store(url)
    try:
        with engine.connect() as conn:
            query = sa.select(ALERTS.c.state, sa.func.count()).group_by(ALERTS.c.state)
            states = {state: n for state, n in conn.execute(query)}
            n, total, biggest = conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.sum(sa.func.length(CASE_PACKS.c.json)),
                    sa.func.max(sa.func.length(CASE_PACKS.c.json)),
                )
            ).one()
            teams = conn.execute(sa.select(sa.func.count(ALERTS.c.routed_team.distinct()))).scalar()
            notes = conn.execute(sa.select(sa.func.count()).select_from(NOTES)).scalar()
            forwards = conn.execute(sa.select(sa.func.count()).select_from(FORWARDS)).scalar()
    finally:
        engine.dispose()
    by_state = ", ".join(f"{k} {v:,}" for k, v in sorted(states.items(), key=lambda kv: -kv[1]))
    return (
        f"{sum(states.values()):,} alerts ({by_state}) over {teams} teams; {n:,} case packs, "
        f"{total / 1e6:.1f} MB of JSON (mean {total / max(n, 1) / 1000:.1f} kB, largest "
        f"{biggest / 1000:.1f} kB); {notes:,} notes, {forwards:,} forwards"
    )


@contextmanager
def stores(use_postgres: bool) -> Iterator[tuple[str, Any]]:
    """(the store to build, a maker of fresh copies of it for each run)."""
    if not use_postgres:
        with tempfile.TemporaryDirectory(prefix="jbench-inbox") as tmp:
            base = Path(tmp) / "base.sqlite"

            def copy(i: int) -> str:
                target = Path(tmp) / f"run{i}.sqlite"
                with closing(sqlite3.connect(base)) as src, closing(sqlite3.connect(target)) as dst:
                    src.backup(dst)
                return f"sqlite:///{target}"

            yield f"sqlite:///{base}", copy
        return
    sys.path.insert(0, str(ROOT / "tests"))
    import sqlalchemy as sa
    from servers import postgres

    with postgres() as server:
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE inbox_base"))
        root = server.rsplit("/", 1)[0]

        def clone(i: int) -> str:
            with admin.connect() as conn:
                conn.execute(sa.text(f"CREATE DATABASE inbox_run{i} TEMPLATE inbox_base"))
            return f"{root}/inbox_run{i}"

        yield f"{root}/inbox_base", clone
        admin.dispose()


# -- the server ---------------------------------------------------------------------------


def serve(fd: int, store: str) -> None:
    """One uvicorn worker on a listening socket it shares with the others."""
    import uvicorn

    from inbox.app import create_app

    app = create_app(store, CONFIG, os.environ["JOINEDUP_INBOX_SECRET"])
    sock = socket.socket(fileno=fd)
    print("ready", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def server(store: str, workers: int) -> Iterator[tuple[str, list[int]]]:
    """The inbox on 127.0.0.1 in `workers` processes: (its URL, their process ids)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    env = {
        **os.environ,
        "JOINEDUP_INBOX_SECRET": secrets.token_urlsafe(32),
        "JOINEDUP_SMTP_URL": "mailto://127.0.0.1:2525",  # named by the config; nothing is sent
    }
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--serve-fd", str(sock.fileno()), "--store", store],
            pass_fds=(sock.fileno(),),
            stdout=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            text=True,
        )
        for _ in range(workers)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"an inbox worker did not start (exit {p.wait()})")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        sock.close()


def _busy_seconds() -> float:
    """CPU time the whole machine has spent busy so far, over all its cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _machine_busy(seconds: float) -> float:
    """How many cores the machine keeps busy over a few seconds."""
    before = _busy_seconds()
    time.sleep(seconds)
    return (_busy_seconds() - before) / seconds


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


# -- the load -----------------------------------------------------------------------------


@dataclass
class Tally:
    """Each request's time by page type, and what was not the expected answer."""

    recording: bool = False
    times: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    said: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0

    async def timed(
        self, kind: str, request: Any, ok: tuple[int, ...] = (200,)
    ) -> httpx.Response | None:
        """Send a request and record its time; None if it failed."""
        t = time.perf_counter()
        try:
            response: httpx.Response = await request
        except httpx.HTTPError as exc:
            if self.recording:
                self.errors[kind] += 1
                self.said[f"{kind}: {type(exc).__name__}"] += 1
            return None
        seconds = time.perf_counter() - t
        if self.recording:
            self.times.setdefault(kind, []).append(seconds)
            if response.status_code == 409 and kind == "acknowledge":
                self.conflicts += 1
            elif response.status_code not in ok:
                self.errors[kind] += 1
                self.said[f"{kind}: {response.status_code}"] += 1
        return response


async def sign_in(client: httpx.AsyncClient, username: str) -> float:
    """Sign in through the form; returns the seconds the POST took."""
    form = await client.get("/signin")
    token = _CSRF.search(form.text)
    assert token is not None, "no CSRF token on the sign-in page"
    t = time.perf_counter()
    done = await client.post(
        "/signin",
        data={"username": username, "password": PASSWORD, "csrf": token.group(1), "next": "/"},
    )
    seconds = time.perf_counter() - t
    if done.status_code != 303:
        raise RuntimeError(f"{username} could not sign in: {done.status_code}")
    return seconds


async def browse(
    client: httpx.AsyncClient, tally: Tally, rng: random.Random, until: float, think: float,
    acknowledge: float,
) -> None:  # fmt: skip
    """One user: list, baseline, an alert, sometimes acknowledge it; until time is up."""
    from alerts.store import STATES

    async def pause() -> None:
        if think:
            await asyncio.sleep(rng.uniform(0, 2 * think))

    while time.perf_counter() < until:
        if rng.random() < 0.25:
            state = rng.choice(STATES)
            listed = await tally.timed("filtered list", client.get(f"/alerts?state={state}"))
        else:
            listed = await tally.timed("list", client.get("/alerts"))
        await pause()
        await tally.timed(BASELINE, client.get("/signin"))
        refs = _REF.findall(listed.text) if listed is not None else []
        if not refs:
            continue
        await pause()
        ref = rng.choice(refs[:20])  # people open alerts from the top of their list
        page = await tally.timed("alert", client.get(f"/alerts/{ref}"))
        await pause()
        if page is None or rng.random() >= acknowledge:
            continue
        state_on_page, csrf, version = (
            _STATE.search(page.text), _CSRF.search(page.text), _VERSION.search(page.text)
        )  # fmt: skip
        if state_on_page and state_on_page.group(1) in ACKABLE and csrf and version:
            await tally.timed(
                "acknowledge",
                client.post(
                    f"/alerts/{ref}/acknowledge",
                    data={"csrf": csrf.group(1), "version": version.group(1)},
                ),
                ok=(303,),
            )
            await pause()


@dataclass
class Run:
    """One run's figures."""

    tally: Tally
    seconds: float
    sign_ins: list[float]
    server_cpu: float
    client_cpu: float
    other_cpu: float  # cores the machine's other processes used meanwhile
    load_before: float = float("nan")  # the load average before the run's server started
    busy_before: float = float("nan")  # cores busy just before, with nothing of ours running


async def load(url: str, pids: list[int], users: Users, args: argparse.Namespace, seed: int) -> Run:
    """Sign everyone in at once, then let them browse for the run's time."""
    tally = Tally()
    clients = [httpx.AsyncClient(base_url=url, timeout=60) for _ in users.people]
    try:
        sign_ins = await asyncio.gather(
            *(sign_in(c, name) for c, (name, _) in zip(clients, users.people, strict=True))
        )
        start = time.perf_counter()
        until = start + args.warmup + args.seconds
        tasks = [
            asyncio.create_task(
                browse(c, tally, random.Random(seed * 1000 + i), until, args.think, args.ack)
            )
            for i, c in enumerate(clients)
        ]
        await asyncio.sleep(args.warmup)
        tally.recording = True
        cpu0, client0, busy0 = _cpu_seconds(pids), time.process_time(), _busy_seconds()
        t0 = time.perf_counter()
        await asyncio.sleep(max(0.0, until - time.perf_counter()))
        tally.recording = False
        cpu1, client1, busy1 = _cpu_seconds(pids), time.process_time(), _busy_seconds()
        t1 = time.perf_counter()
        await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    server, client = (cpu1 - cpu0) / (t1 - t0), (client1 - client0) / (t1 - t0)
    others = (busy1 - busy0) / (t1 - t0) - server - client
    return Run(tally, t1 - t0, list(sign_ins), server, client, others)


# -- the report ---------------------------------------------------------------------------

COLUMNS = ("count", "p50", "p95", "p99", "max", "errors")


def _pct(ordered: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of sorted seconds, in ms."""
    if not ordered:
        return float("nan")
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def figures(run: Run) -> dict[str, dict[str, float]]:
    """Count, p50, p95, p99, max (ms) and errors by page type, for all pages and sign-in."""
    t = run.tally
    groups = {k: (t.times.get(k, []), t.errors[k]) for k in (*PAGES, BASELINE)}
    groups["all pages"] = (
        [x for k in PAGES for x in t.times.get(k, [])],
        sum(t.errors[k] for k in PAGES),
    )
    groups["sign-in POST (argon2)"] = (run.sign_ins, 0)
    out = {}
    for name, (values, errors) in groups.items():
        s = sorted(values)
        out[name] = {"count": len(s), "errors": errors, "max": _pct(s, 100)}
        out[name] |= {f"p{q}": _pct(s, q) for q in (50, 95, 99)}
    return out


def table(rows: dict[str, dict[str, float]], indent: str = "  ") -> None:
    """Print figures as a table, one page type a line."""
    print(f"{indent}{'page (ms)':<22}" + "".join(f"{c:>9}" for c in COLUMNS))
    for name, f in rows.items():
        print(
            f"{indent}{name:<22}{f['count']:>9,.0f}"
            + "".join(f"{f[c]:>9.1f}" for c in ("p50", "p95", "p99", "max"))
            + f"{f['errors']:>9,.0f}"
        )


def report(i: int, run: Run) -> dict[str, dict[str, float]]:
    """Print one run's figures and return them."""
    t = run.tally
    requests = sum(len(v) for v in t.times.values())
    print(
        f"run {i + 1}: before it, load average {run.load_before:.2f} and {run.busy_before:.2f} "
        f"cores busy with nothing of ours running; {run.seconds:.0f} s recorded, {requests:,} "
        f"requests ({requests / run.seconds:.0f}/s); cores used meanwhile: the inbox's "
        f"processes {run.server_cpu:.2f}, the load generator {run.client_cpu:.2f}, other "
        f"processes {run.other_cpu:.2f}"
    )
    rows = figures(run)
    table(rows)
    acks = len(t.times.get("acknowledge", []))
    print(f"  acknowledged {acks - t.conflicts:,}; {t.conflicts} answered 409 (someone was first)")
    if t.said:
        print("  errors: " + ", ".join(f"{k} x{n}" for k, n in t.said.most_common()))
    return rows


def summary(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Counts and errors summed over the runs; times the median of the runs' figures."""
    out = {}
    for name in runs[0]:
        out[name] = {
            c: (sum if c in ("count", "errors") else statistics.median)(r[name][c] for r in runs)
            for c in COLUMNS
        }
    return out


def main() -> None:
    """Build the store once; serve and load it `--runs` times; print the median p95."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", type=Path, default=Path("/tmp/jbench-inbox"), help="world, warehouse")
    p.add_argument("--people", type=int, default=20_000, help="the world's size")
    p.add_argument("--alerts", type=int, default=2_000, help="persons newly high tonight")
    p.add_argument("--users", type=int, default=50, help="concurrent signed-in users")
    p.add_argument("--workers", type=int, default=2, help="uvicorn processes")
    p.add_argument("--seconds", type=float, default=60, help="recorded time a run")
    p.add_argument("--warmup", type=float, default=5, help="unrecorded time first")
    p.add_argument("--think", type=float, default=1.0, help="mean pause between requests (s)")
    p.add_argument("--ack", type=float, default=0.3, help="share of alert pages acknowledged")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--postgres", action="store_true", help="the store on a throwaway PostgreSQL")
    p.add_argument("--serve-fd", type=int, help=argparse.SUPPRESS)
    p.add_argument("--store", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_fd is not None:
        serve(args.serve_fd, args.store)
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    with stores(args.postgres) as (base, fresh):
        users = build_store(base, args.dir, args.people, args.alerts, args.users, args.seed)
        size = describe_store(base)
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; store: {'PostgreSQL' if args.postgres else 'SQLite'}; "
            f"{args.workers} uvicorn workers"
        )
        print(f"data: {size}")
        print(
            f"load: {len(users.people)} users at once, alerts in their lists: {users.line()}; "
            "think time "
            f"{args.think:g} s on average, {args.ack:.0%} of alert pages acknowledged; "
            f"{args.seconds:g} s recorded a run after {args.warmup:g} s of warm-up"
        )
        runs, figures_of = [], []
        for i in range(args.runs):
            load_before, busy_before = os.getloadavg()[0], _machine_busy(3.0)
            with server(fresh(i), args.workers) as (url, pids):
                run = asyncio.run(load(url, pids, users, args, args.seed + i))
            run.load_before, run.busy_before = load_before, busy_before
            runs.append(run)
            figures_of.append(report(i, run))
    total = summary(figures_of)
    p95s = [r["all pages"]["p95"] for r in figures_of]
    median = total["all pages"]["p95"]
    print(f"over {args.runs} runs (counts summed, times the median of the runs'):")
    table(total)
    print(
        f"all pages' p95 is {median / total[BASELINE]['p95']:.1f} times the sign-in page's "
        f"(no database) and their p50 {total['all pages']['p50'] / total[BASELINE]['p50']:.1f} "
        "times"
    )
    verdict = "met" if median <= TARGET_MS else "NOT met"
    print(
        f"median p95 over {args.runs} runs, all pages: {median:.0f} ms (runs: "
        + ", ".join(f"{x:.0f}" for x in p95s)
        + f"); target at most {TARGET_MS:.0f} ms on {os.cpu_count()} cores: {verdict}. "
        f"{len(users.people)} users, think time {args.think:g} s, "
        f"{'PostgreSQL' if args.postgres else 'SQLite'}, {size.split(';')[0]}; before the "
        f"runs, load average {', '.join(f'{r.load_before:.2f}' for r in runs)} and cores busy "
        f"{', '.join(f'{r.busy_before:.2f}' for r in runs)}; other processes' cores during "
        f"them {', '.join(f'{r.other_cpu:.2f}' for r in runs)}"
    )


if __name__ == "__main__":
    main()
