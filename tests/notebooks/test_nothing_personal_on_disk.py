"""No notebook, and no export of one, writes a name or a date of birth to disk.

Each notebook is run on the risk world as CI runs it (a script), exported by hand
(`marimo export html`) and by `joinedup notebook export`; every file written under the
notebooks folder, in any `__marimo__` folder and in the exports is read for the first
names, surnames and birth dates of the world's people. The export is then opened in
Debian's Chromium with every request off loopback refused, and must show its content.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from playwright.sync_api import Route, expect, sync_playwright
from riskworld import RiskWorld, risk_world
from servers import CHROMIUM_ARGS

from matching.charts import model_charts, pair_waterfall
from pipelines.cli import main
from pipelines.notebook_export import ASSETS

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
CHROMIUM = shutil.which("chromium")
HEADINGS = {
    "insight_review": "Reach",
    "linkage_tuning": "Pairs against the labels",
    "risk_review": "Calibration",
}

pytestmark = pytest.mark.slow

# Two records in the warehouse's shape whose values are no one's.
MADE_UP = pl.DataFrame(
    {
        "source": ["made", "made"],
        "source_record_id": ["1", "2"],
        "first_name": ["XQZV", "XQZV"],
        "last_name": ["QWXZ", "QWXZ"],
        "dob": ["1900-01-01", "1900-01-01"],
        "sex": ["F", "F"],
        "address": ["1 Xqz Row", "1 Xqz Row"],
        "postcode": ["ZZ9 9ZZ", "ZZ9 9ZZ"],
        **{c: [None, None] for c in ("middle_name", "uprn", "nhs_number", "upn", "ni_number")},
    },
    schema_overrides={
        c: pl.String for c in ("middle_name", "uprn", "nhs_number", "upn", "ni_number")
    },
).with_columns(pl.format("{}:{}", "source", "source_record_id").alias("unique_id"))


@pytest.fixture(scope="module")
def rw(tmp_path_factory: pytest.TempPathFactory) -> RiskWorld:
    return risk_world(tmp_path_factory)


@pytest.fixture
def data(rw: RiskWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The risk world's warehouse and models, the world's truth named."""
    for name in ("JOINEDUP_WAREHOUSE", "JOINEDUP_LABELS", "JOINEDUP_LINK_RUN", "JOINEDUP_TRUTH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("JOINEDUP_WORLD", str(rw.world))
    return rw.data(tmp_path / "data")


@functools.cache
def _marimos_own_words(scratch: str) -> frozenset[str]:
    """The words marimo writes around data that holds no person (a table and a chart of
    two numbers), and the names of its frontend's files, which a page preloads as needed."""
    Path(scratch).mkdir(parents=True, exist_ok=True)
    empty = Path(scratch) / "empty.py"
    empty.write_text(
        "import marimo\napp = marimo.App()\n\n@app.cell\ndef _():\n"
        "    import altair as alt\n    import marimo as mo\n    import polars as pl\n"
        "    _t = pl.DataFrame({'x': [1, 2], 'y': [0.5, 0.25]})\n"
        "    mo.vstack([mo.ui.table(_t), mo.ui.altair_chart(alt.Chart(_t).mark_line(point=True)"
        ".encode(x='x:Q', y='y:Q', tooltip=['x:Q']))])\n"
        "    return\n"
        '\nif __name__ == "__main__":\n    app.run()\n'
    )
    out = Path(scratch) / "out"
    assert main(["notebook", "export", str(empty), "--out", str(out)]) == 0
    files = " ".join(p.name for p in (out / ASSETS).rglob("*"))
    return frozenset(_words((out / "empty.html").read_text()) | _words(files))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Z][A-Z_'-]+", text.upper()))  # white_british: a group, one word


def _personal(warehouse: Path, ignore: frozenset[str]) -> tuple[set[str], set[str]]:
    """The world's names (as words, but marimo's own) and birth dates, in the forms a page
    could show them."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "SELECT first_name, last_name, dob FROM person_records WHERE valid_to IS NULL"
        ).fetchall()
    finally:
        con.close()
    names = {w for first, last, _ in rows for w in _words(f"{first or ''} {last or ''}")}
    dobs = {
        form
        for *_, dob in rows
        if dob is not None
        for form in (dob.isoformat(), dob.strftime("%d/%m/%Y"), dob.strftime("%-d %b %Y"))
    }
    assert len(names) > 200 and len(dobs) > 1000
    return {n for n in names if len(n) >= 4} - ignore, dobs


def _readable(path: Path) -> str:
    """A file's text, with any base64 `data:` payload in it decoded beside it."""
    text = path.read_text(encoding="utf-8", errors="replace")
    decoded = [
        base64.b64decode(m + "=" * (-len(m) % 4)).decode("utf-8", errors="replace")
        for m in re.findall(r"base64,([A-Za-z0-9+/]{16,}={0,2})", text)
    ]
    return "\n".join([text, *decoded])


def _found(files: list[Path], names: set[str], dobs: set[str]) -> list[str]:
    """Which files hold a name or a birth date (said by file and kind, never the value)."""
    found = []
    for path in files:
        text = _readable(path)
        if names & _words(text):
            found.append(f"{path}: a name")
        if any(d in text for d in dobs):
            found.append(f"{path}: a date of birth")
    return found


def _files(folder: Path) -> dict[Path, float]:
    return (
        {p: p.stat().st_mtime for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served by a plain HTTP server on loopback: (folder, origin)."""
    folder = tmp_path / "served"
    folder.mkdir()
    quiet = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": print})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not on PATH")
@pytest.mark.parametrize("name", sorted(HEADINGS))
def test_no_notebook_or_export_writes_a_name_or_a_birth_date(
    name: str, data: Path, tmp_path: Path, served: tuple[Path, str]
) -> None:
    out, origin = served
    before = _files(NOTEBOOKS)
    prefix = tmp_path / "pycache-prefix"
    env = dict(os.environ)
    # As CI runs it: a script.
    done = subprocess.run(
        [sys.executable, str(NOTEBOOKS / f"{name}.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # As an analyst exports it by hand; its __marimo__ folder goes under the prefix, so
    # that the test leaves the working tree as it was, but is read like any other.
    by_hand = tmp_path / "by-hand.html"
    nb = str(NOTEBOOKS / f"{name}.py")
    done = subprocess.run(
        [sys.executable, "-m", "marimo", "export", "html", "--no-sandbox", "-o", str(by_hand), nb],
        capture_output=True,
        text=True,
        env=env | {"PYTHONPYCACHEPREFIX": str(prefix)},
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    sessions = [p for p in prefix.rglob("*") if p.is_file() and "__marimo__" in p.parts]
    assert sessions, "marimo export html wrote no session file: is the prefix still honoured?"
    # As joinedup exports it, to read offline.
    assert main(["notebook", "export", name, "--out", str(out)]) == 0
    page = out / f"{name}.html"

    written = [p for p, t in _files(NOTEBOOKS).items() if before.get(p) != t]
    assert not [p for p in written if "__marimo__" in p.parts]
    # The notebook's own code is in the page too ("shown on the page": Page is a surname).
    ours = _marimos_own_words(str(tmp_path / "e")) | _words(Path(nb).read_text())
    # and the words of the stage libraries the notebooks print from ("rose": a rate rose)
    for library in ("insight", "matching", "risk_models"):
        for source in (NOTEBOOKS.parent / library).glob("*.py"):
            ours |= _words(source.read_text())
    # and Splink's charts of the model, drawn from no record ("green" is a colour there)
    model = json.loads((data / "models" / "linkage-v1.json").read_text())["splink_model"]
    ours |= {w for c in model_charts(model).values() for w in _words(json.dumps(c.to_dict()))}
    # and Splink's waterfall's own words (its colours, "mark"), from two made-up records
    ours |= _words(json.dumps(pair_waterfall(model, MADE_UP, [("made:1", "made:2")]).to_dict()))
    names, dobs = _personal(data / "warehouse.duckdb", ours)
    assert _found([*written, *sessions, by_hand, page], names, dobs) == []
    # The scan can fail: the same names and dates, written out, are found.
    leak = tmp_path / "leak.json"
    leak.write_text(" ".join(sorted(names)[:3]) + " " + sorted(dobs)[0])
    assert len(_found([leak], names, dobs)) == 2

    # Offline, served from loopback: the page and its frontend, nothing else.
    assert (out / ASSETS / "assets").is_dir()
    refused: list[str] = []

    def loopback_only(route: Route) -> None:
        if route.request.url.startswith(origin + "/"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.route("**/*", loopback_only)
            view = context.new_page()
            view.goto(f"{origin}/{page.name}")
            expect(view.get_by_role("heading", name=HEADINGS[name]).first).to_be_visible(
                timeout=60_000
            )
        finally:
            browser.close()
    assert refused == []
