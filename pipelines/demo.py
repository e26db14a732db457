"""`joinedup demo`: make (or reuse) the default world and run what the product has so far."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import httpx

from pipelines.environment import data_dir
from world.config import WorldConfig
from world.generate import MANIFEST, Report, generate, load_config
from world.police_api import BackgroundServer

NOT_YET_BUILT = (
    "ingest the extracts into the warehouse (issue 3)",
    "link records into persons and households (issue 4)",
    "score risk (issue 5)",
    "select, route and deliver alerts (issue 6)",
    "the inbox (issue 7)",
)


def print_world(report: Report) -> None:
    """What a world run made, stage by stage."""
    print(
        f"world: {report.people:,} people, {report.records:,} partner records, "
        f"written to {report.out} in {report.seconds:.1f} s"
    )
    for stage, secs in report.stages.items():
        print(f"  {stage:<14} {secs:6.2f} s")
    for date, rows in report.rows_per_night.items():
        print(f"  night {date}: {rows:,} source rows across partners")
    print(
        f"  serious-event rate in the outcome window {report.outcome_rate:.3f}; "
        f"oracle AUC {report.oracle_auc:.3f} (the ceiling for any risk model)"
    )


def _summarise_manifest(world: Path) -> None:
    manifest = json.loads((world / MANIFEST).read_text())
    last = manifest["nights"][-1]
    print(f"extracts for {len(manifest['nights'])} nights; the last, {last['date']}:")
    for register, count in last["person_records"].items():
        print(f"  {register:<18} {count:>8,} person records")
    print(f"  {'events':<18} {last['events']:>8,} rows")
    for partner, files in last["files"].items():
        print(f"  {partner:<22} {', '.join(Path(f).name for f in files)}")


def _police_pages(world: Path) -> None:
    token = secrets.token_urlsafe(16)
    with (
        BackgroundServer(world, token) as server,
        httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as client,
    ):
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


def run(people: int = 20_000, nights: int = 3, fresh: bool = False) -> int:
    """Make the default world if none is there, then run each stage that exists."""
    started = time.perf_counter()
    world = data_dir() / "world"
    cfg = WorldConfig(people=people, nights=nights)
    print(f"joinedup demo: data in {data_dir()}")
    if not fresh and (world / MANIFEST).is_file() and load_config(world) == cfg:
        print(f"world: reusing {world} ({people:,} people, {nights} nights); --fresh remakes it")
    else:
        print_world(generate(cfg, world))
    _summarise_manifest(world)
    _police_pages(world)
    print("still to come:")
    for stage in NOT_YET_BUILT:
        print(f"  - {stage}")
    print(f"demo finished in {time.perf_counter() - started:.1f} s")
    return 0
