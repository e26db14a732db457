"""`joinedup demo`: make (or reuse) the default world and run what the product has so far."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import time
from pathlib import Path

import duckdb
import httpx
import polars as pl

from alerts.mailbox import LocalMailbox
from connectors.warehouse import Warehouse
from matching import latest_model, matching_config, train_model
from matching.evaluate import cluster_scores
from pipelines.environment import (
    alerts_file,
    data_dir,
    matching_file,
    models_dir,
    store_url,
    warehouse_path,
)
from pipelines.nightly import run_night
from pipelines.progress import step
from risk_models import (
    RISK_ERRORS,
    latest_risk_model,
    promote,
    saved_evaluation,
    standing,
    train_risk,
)
from risk_models.scoring import BANDS
from world.config import WorldConfig
from world.generate import MANIFEST, generate, load_config
from world.police_api import BackgroundServer

PROMOTED_BECAUSE = "demo: first model trained on the demo world"


def _summarise_manifest(world: Path) -> None:
    manifest = json.loads((world / MANIFEST).read_text())
    last = manifest["nights"][-1]
    print(f"extracts for {len(manifest['nights'])} nights; the last, {last['date']}:")
    for partner, files in last["files"].items():
        print(f"  {partner:<22} {', '.join(Path(f).name for f in files)}")


def _police_pages(server: BackgroundServer, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=10) as client:
        refused = client.get("/api/v1/incidents", headers={"Authorization": "Bearer wrong"})
        url: str | None = "/api/v1/incidents?pageSize=1000"
        pages = items = 0
        while url:
            body = client.get(url).raise_for_status().json()
            pages += 1
            items += len(body["items"])
            url = body["next"]
    print(
        f"police API on {server.url}: {items:,} incidents in {pages} pages with the token; "
        f"a wrong token gets {refused.status_code}"
    )


def _print_night(night: dt.date, success: bool, lines: list[str]) -> None:
    print(f"  night {night}: {'complete' if success else 'FINISHED WITH FAILURES'}")
    for line in lines:
        print(f"    {line}")


def _nights(cfg: WorldConfig, world: Path) -> bool:
    """The nightly job night by night: loads, persons, scores, alerts; the models trained once."""
    print(
        f"nightly job, night by night, into {warehouse_path()}: loads, linkage, risk scores, alerts"
    )
    ok = True
    for night in cfg.night_dates():
        ok = _night(night, world) and ok
    return ok


def _night(night: dt.date, world: Path) -> bool:
    """One night of the job, training the models the first time there is data for them."""
    with step(f"night {night}: the nightly job"):
        ok, lines = run_night(night)
    _print_night(night, ok, lines)
    if latest_model(models_dir()) is None:
        # The analyst's step, done here once so that the job has a model to link with.
        print("  linkage: no trained model yet; training on the records loaded so far")
        try:
            with step("training the linkage model"):
                model = train_model(warehouse_path(), models_dir())
        except ValueError as exc:
            print(f"  linkage: not trained: {exc}")
            return ok
        print(f"  linkage: trained {model.name}; the job links night {night} again")
        with step(f"night {night}: the nightly job again, after the loads"):
            success, lines = run_night(night, ingest=False)
        _print_night(night, success, lines)
        ok = ok and success
    if latest_risk_model(models_dir()) is None:
        # The analyst's `joinedup risk train`, done here once, judged against the world's
        # truth too, so that the job has a model to score with.
        print("  risk: no trained model yet; training on the persons linked so far")
        try:
            with step("training the risk models (logistic, boosted)"):
                report = train_risk(warehouse_path(), models_dir(), world)
        except RISK_ERRORS as exc:
            print(f"  risk: not trained: {exc}")
            return ok
        for line in report.lines:
            print(f"  risk: {line.strip()}")
        # The analyst's `joinedup risk promote`: a person decides which version scores.
        try:
            promote(models_dir(), report.folder.name, PROMOTED_BECAUSE)
            print(f"  risk: promoted {report.folder.name}: {PROMOTED_BECAUSE}")
        except RISK_ERRORS as exc:
            print(f"  risk: not promoted: {exc}")
        print(f"  risk: {standing(models_dir()).status()}; the job scores night {night} again")
        with step(f"night {night}: the nightly job again, after the loads"):
            success, lines = run_night(night, ingest=False)
        _print_night(night, success, lines)
        ok = ok and success
    return ok


def _summarise_warehouse() -> None:
    wh = Warehouse(warehouse_path())
    try:
        counts = wh.run(
            "SELECT (SELECT count(*) FROM person_records WHERE valid_to IS NULL),"
            " (SELECT count(*) FROM events WHERE valid_to IS NULL),"
            " (SELECT count(*) FROM involvements WHERE valid_to IS NULL),"
            " (SELECT count(*) FROM quarantine), (SELECT count(*) FROM field_issues),"
            " (SELECT count(*) FROM changes)"
        )[0]
    finally:
        wh.close()
    print(
        f"warehouse: {counts[0]:,} person records, {counts[1]:,} events and {counts[2]:,} "
        f"involvements current; {counts[3]:,} rows in quarantine, {counts[4]:,} field issues, "
        f"{counts[5]:,} changes recorded"
    )


def _score_persons(world: Path) -> None:
    model = latest_model(models_dir())
    if model is None:
        return
    print(f"linkage: {model.name}, threshold {matching_config(matching_file()).threshold}")
    # The demo's world has a truth, so the demo can say how good the persons are.
    con = duckdb.connect(str(warehouse_path()), read_only=True)
    try:
        persons = con.sql(
            "SELECT unique_id, source_record_id, person_id AS cluster_id"
            " FROM persons WHERE valid_to IS NULL"
        ).pl()
    finally:
        con.close()
    truth = persons.join(
        pl.read_parquet(world / "truth" / "records.parquet").select(
            "source_record_id", "person_id"
        ),
        on="source_record_id",
    )
    print(
        "  persons against the world's truth, as pairs of records put in one person: "
        f"{cluster_scores(persons, truth).line()}"
    )


def _cut(name: str, cut: dict[str, float]) -> str:
    return (
        f"{name}: {int(cut['flagged']):,} flagged, precision {cut['precision']:.3f}, "
        f"recall {cut['recall']:.3f}"
    )


def _summarise_risk() -> None:
    chosen = standing(models_dir())
    folder = chosen.folder()
    if folder is None:
        print(f"risk: {chosen.status()}")
        return
    saved = saved_evaluation(folder)
    context = saved["context"]
    print(f"risk: {chosen.status()}; its {saved['kind']} model, {context['trained on']}")
    at, top = f"at {context['operating threshold']}", f"top {context['capacity a night']}"
    for label, e in (
        (f"held-out persons ({context['held-out persons']})", saved),
        ("against the world's truth", saved["truth"]),
    ):
        if e is None:
            continue
        oracle = f" ({e['auc'] / e['oracle_auc']:.1%} of the oracle's)" if e["oracle_auc"] else ""
        print(
            f"  {label}: AUC {e['auc']:.3f}{oracle}, average precision "
            f"{e['average_precision']:.3f}, calibration error {e['ece']:.4f}; "
            f"{_cut(at, e['threshold'])}; {_cut(top, e['capacity'])}"
        )
    con = duckdb.connect(str(warehouse_path()), read_only=True)
    try:
        rows = con.execute(
            "SELECT night, band, count(*) FROM scores WHERE night = (SELECT max(night) FROM scores)"
            " GROUP BY ALL"
        ).fetchall()
    except duckdb.CatalogException:
        rows = []
    finally:
        con.close()
    if rows:
        bands = {band: n for _, band, n in rows}
        print(
            f"  night {rows[0][0]}: "
            + ", ".join(f"{bands.get(b, 0):,} {b.replace('_', ' ')}" for b in BANDS[::-1])
            + " persons"
        )


def _inbox_sign_ins() -> None:
    """Seed the inbox's demo users (if none) and print where to sign in, and as whom."""
    from inbox.users import seed_demo_store, sign_in_lines

    made = seed_demo_store(store_url(), alerts_file(), dt.datetime.now(dt.UTC))
    print("inbox: `./dev inbox`, then http://127.0.0.1:8000/ ; demo sign-ins (shown once):")
    print("\n".join(sign_in_lines(made)))


def _next_steps() -> None:
    """Where a newcomer goes from here: the inbox, Dagster, the notebooks."""
    print("what to open next:")
    print("  the inbox:    ./dev inbox   then http://127.0.0.1:8000/ with a sign-in above")
    print(
        "  Dagster:      DAGSTER_HOME=$PWD/pipelines/dagster_home .venv/bin/dagster dev -m "
        "pipelines.definitions   then http://127.0.0.1:3000/ (the demo's runs are there)"
    )
    print(
        "  the notebooks: .venv/bin/marimo edit notebooks/  (what each is for: notebooks/README.md)"
    )


def run(people: int = 20_000, nights: int = 3, fresh: bool = False) -> int:
    """Make the default world if none is there, then run each stage that exists."""
    started = time.perf_counter()
    world = data_dir() / "world"
    cfg = WorldConfig(people=people, nights=nights)
    print(f"joinedup demo: data in {data_dir()}")
    if not fresh and (world / MANIFEST).is_file() and load_config(world) == cfg:
        print(f"world: reusing {world} ({people:,} people, {nights} nights); --fresh remakes it")
    else:
        with step(f"making a world of {people:,} people in {world}") as making:
            made = generate(cfg, world, on_stage=making.note)
        print("\n".join(made.lines()))
        warehouse_path().unlink(missing_ok=True)  # a new world starts a new warehouse
        shutil.rmtree(data_dir() / "models", ignore_errors=True)  # ...and a new model
        (data_dir() / "store.sqlite").unlink(missing_ok=True)  # ...and no alerts yet
        shutil.rmtree(data_dir() / "mailbox", ignore_errors=True)
    _summarise_manifest(world)
    token = secrets.token_urlsafe(16)
    os.environ.update({"JOINEDUP_WORLD": str(world), "JOINEDUP_POLICE_TOKEN": token})
    mail = data_dir() / "mailbox"
    with BackgroundServer(world, token) as server, LocalMailbox(mail) as box:
        os.environ["JOINEDUP_POLICE_URL"] = server.url
        os.environ["JOINEDUP_SMTP_URL"] = box.url
        print(f"mail relay for alerts on {box.url}, delivering into {mail} (Maildir)")
        _police_pages(server, token)
        ok = _nights(cfg, world)
        delivered = len(box.messages())
    _summarise_warehouse()
    _score_persons(world)
    _summarise_risk()
    print(
        f"alerts: {delivered} messages in the local mailbox {mail} (Maildir: one file a "
        f"message under new/); the store of alerts and case packs is {store_url()}"
    )
    _inbox_sign_ins()
    _next_steps()
    print(f"demo finished in {time.perf_counter() - started:.1f} s")
    return 0 if ok else 1
