"""Fixtures for the alerts' tests: a small linked world, scores set by each test, a real
SMTP server and a real HTTP webhook on loopback, and the store on SQLite or PostgreSQL."""

from __future__ import annotations

import copy
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import servers
import yaml
from worldfiles import SOURCES_FILE, partner_environment

from connectors.config import load_sources
from connectors.ingest import ingest_night
from connectors.warehouse import Warehouse
from matching import link_night, train_model
from pipelines.environment import models_dir
from world.generate import generate
from world.police_api import BackgroundServer

sys.path.insert(0, str(Path(__file__).parent))  # the tests here import alertworld

from alertworld import (
    NIGHT,
    WORLD,
    ConfigMaker,
    Linked,
    SmtpSink,
    WebhookServer,
    base_config,
    pick,
)


@pytest.fixture(scope="session")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Linked]:
    """A 700-person world, loaded and linked for one night, once a session."""
    root = tmp_path_factory.mktemp("alerts_world")
    world = generate(WORLD, root / "world").out
    patch = pytest.MonkeyPatch()
    patch.setenv("JOINEDUP_DATA", str(root))  # where the linkage model is saved
    try:
        wh = Warehouse(root / "warehouse.duckdb")
        with BackgroundServer(world, "tok") as api, partner_environment(world, api.url, "tok"):
            ingest_night(wh, load_sources(SOURCES_FILE), NIGHT)
        wh.close()
        model = train_model(root / "warehouse.duckdb", models_dir())
        link_night(root / "warehouse.duckdb", NIGHT, model, 0.9)
        yield Linked(root / "warehouse.duckdb", pick(root / "warehouse.duckdb"))
    finally:
        patch.undo()


@pytest.fixture
def warehouse(linked: Linked, tmp_path: Path) -> Path:
    """This test's own copy of the linked warehouse, to write scores into."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(linked.warehouse, path)
    return path


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1."""
    with servers.smtp_server() as sink:
        yield sink


@pytest.fixture
def smtp(smtp_server: SmtpSink) -> SmtpSink:
    """The SMTP server, emptied for this test, taking each message at once."""
    smtp_server.mails.clear()
    smtp_server.delay = 0.0
    return smtp_server


@pytest.fixture(scope="session")
def webhook_server() -> Iterator[WebhookServer]:
    """A real HTTP webhook on 127.0.0.1."""
    server = WebhookServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def webhook(webhook_server: WebhookServer) -> WebhookServer:
    """The webhook, emptied and answering 200 on every path, for this test."""
    webhook_server.hooks.clear()
    webhook_server.modes.clear()
    return webhook_server


@pytest.fixture
def make_config(smtp: SmtpSink, webhook: WebhookServer, tmp_path: Path) -> ConfigMaker:
    """Write the test config, changed by `edit(config_dict)` if given; returns its path."""

    def make(edit: Callable[[dict[str, Any]], None] | None = None, name: str = "alerts") -> Path:
        cfg = copy.deepcopy(base_config(smtp, webhook))
        if edit is not None:
            edit(cfg)
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path

    return make
