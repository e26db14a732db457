"""A marimo notebook exported to HTML that opens with no internet, and leaves no session
file behind.

`marimo export html` (marimo 0.25) writes a page whose scripts, styles and fonts all come
from jsDelivr, so offline it is blank; it has no option for local assets (only
`html-wasm --offline`, which downloads Pyodide while exporting, so it cannot be made
offline either). It also writes the run's outputs to `__marimo__/session/<notebook>.json`
beside the notebook, always. Here the export runs with its `__marimo__` folder moved into
a temporary folder (marimo puts it under `sys.pycache_prefix` when that is set), which is
removed after, and the page's CDN address is rewritten to a copy of the frontend marimo
ships in its wheel (`marimo/_static`), put beside the page.

The page must be served over HTTP, from loopback, to render: Chromium refuses module
scripts read from `file://` (origin "null"), so opened as a file it stays blank, with or
without a network. `python -m http.server -b 127.0.0.1 -d <folder>` serves it offline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ASSETS = "marimo-frontend"


class NotebookExportError(RuntimeError):
    """The notebook could not be exported: what failed, and marimo's own words."""


@dataclass(frozen=True)
class Exported:
    """An exported notebook: its page and the frontend folder it loads."""

    page: Path
    assets: Path


def cdn_prefix(version: str) -> str:
    """The address `marimo export html` loads the frontend of marimo `version` from."""
    return f"https://cdn.jsdelivr.net/npm/@marimo-team/frontend@{version}/dist/"


def export_html(notebook: Path, out: Path, env: dict[str, str] | None = None) -> Exported:
    """Run `notebook` and export it to `out/<name>.html`, with marimo's frontend beside it.

    Args:
        notebook: a marimo notebook file.
        out: the folder for the page and its `marimo-frontend/` folder (made if missing).
        env: the environment the notebook runs in (this process's by default).

    Raises:
        NotebookExportError: marimo failed, or wrote a page that loads its frontend from
            somewhere other than the address this rewrites.
    """
    import marimo

    out.mkdir(parents=True, exist_ok=True)
    page = out / f"{notebook.stem}.html"
    with tempfile.TemporaryDirectory(prefix="joinedup-marimo-") as scratch:
        # marimo writes __marimo__/session/ under the pycache prefix when one is set.
        run_env = dict(os.environ if env is None else env) | {"PYTHONPYCACHEPREFIX": scratch}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "marimo",
                "export",
                "html",
                "--no-sandbox",
                "--force",
                "-o",
                str(page),
                str(notebook),
            ],
            capture_output=True,
            text=True,
            env=run_env,
            check=False,
        )
    if done.returncode != 0 or not page.is_file():
        raise NotebookExportError(
            f"marimo export html {notebook} failed (exit {done.returncode}): "
            f"{done.stderr.strip()[-1000:]}"
        )
    html = page.read_text(encoding="utf-8")
    prefix = cdn_prefix(marimo.__version__)
    if prefix not in html:
        raise NotebookExportError(
            f"{page}: marimo {marimo.__version__} no longer loads its frontend from "
            f"{prefix}; the page was left as marimo wrote it"
        )
    page.write_text(html.replace(prefix, f"{ASSETS}/"), encoding="utf-8")
    assets = out / ASSETS
    stamp = assets / ".marimo-version"
    if not (stamp.is_file() and stamp.read_text() == marimo.__version__):
        shutil.rmtree(assets, ignore_errors=True)
        shutil.copytree(Path(marimo.__file__).parent / "_static", assets)
        stamp.write_text(marimo.__version__)
    return Exported(page=page, assets=assets)
