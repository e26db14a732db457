"""`marimo edit` keeps no session file (a copy of every output) of our notebooks.

marimo 0.25 writes `__marimo__/session/<notebook>.json` from an edit session unless the
notebook runs when it is opened (`auto_instantiate`). The repository's `[tool.marimo]`
sets that for every notebook under it; here a real `marimo edit` server, opened in
Debian's Chromium, shows that with that table no session file is written, and without it
one is.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from servers import CHROMIUM_ARGS, free_port

ROOT = Path(__file__).parents[2]
CHROMIUM = shutil.which("chromium")
NOTEBOOK = """import marimo
app = marimo.App()


@app.cell
def _():
    import marimo as mo
    mo.md("# Shown on opening")
    return


if __name__ == "__main__":
    app.run()
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not on PATH"),
]


def test_the_repositorys_marimo_table_applies_to_every_notebook() -> None:
    from marimo._config.manager import get_default_config_manager

    for notebook in sorted((ROOT / "notebooks").glob("*.py")):
        runtime = get_default_config_manager(current_path=str(notebook)).get_config()["runtime"]
        assert runtime["auto_instantiate"] is True, notebook.name


def _marimo_table() -> str:
    """The repository's [tool.marimo] settings, as a pyproject.toml of their own."""
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["marimo"]["runtime"]
    assert all(isinstance(v, bool) for v in runtime.values())
    lines = [f"{k} = {str(v).lower()}" for k, v in runtime.items()]
    return "[tool.marimo.runtime]\n" + "\n".join(lines) + "\n"


def _session_files(folder: Path, table: str) -> list[Path]:
    """Open a notebook in a real `marimo edit` (its pyproject.toml holding `table`), see its
    output in Chromium, wait past marimo's 2 s session writes: the session files written."""
    (folder / "nb").mkdir(parents=True)
    (folder / "nb" / "pyproject.toml").write_text(f'[project]\nname = "n"\n\n{table}')
    (folder / "nb" / "notebook.py").write_text(NOTEBOOK)
    prefix = folder / "prefix"  # marimo's __marimo__ folder goes under it, to be found
    port = free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "marimo", "edit", "--headless", "--no-token", "--no-sandbox"),
            *("-p", str(port), str(folder / "nb" / "notebook.py")),
        ],
        env=os.environ | {"PYTHONPYCACHEPREFIX": str(prefix)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "marimo edit did not start"
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/")
                if table:
                    heading = page.get_by_role("heading", name="Shown on opening")
                    expect(heading).to_be_visible(timeout=60_000)
                else:
                    # not run on opening: the editor is up when its controls are
                    shutdown = page.get_by_role("button", name="Shutdown")
                    expect(shutdown).to_be_visible(timeout=60_000)
                time.sleep(5)
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(20)
    return [p for p in prefix.rglob("*.json") if "__marimo__" in p.parts]


def test_an_edit_session_writes_no_session_file(tmp_path: Path) -> None:
    assert _session_files(tmp_path / "ours", _marimo_table()) == []
    # Without the table, marimo writes one: the test can fail.
    written = _session_files(tmp_path / "default", "")
    assert [p.name for p in written] == ["notebook.py.json"]
