"""Bad input: each gets a clear error naming source, file, row and field; other sources
still load; nothing already loaded is lost; a partial load is never marked complete; and a
re-run picks up cleanly."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import free_port
from worldfiles import SOURCES_FILE, partner_environment

from connectors.config import Retry, Source, load_sources
from connectors.ingest import LoadReport, ingest_night, ingest_source
from connectors.warehouse import Warehouse
from world.config import WorldConfig
from world.generate import generate
from world.police_api import BackgroundServer, Faults

SMALL = WorldConfig(people=1_500, seed=3, nights=2)
NIGHT0, NIGHT1 = SMALL.night_dates()
FAST_RETRY = Retry(attempts=2, backoff_seconds=0.0, timeout_seconds=5)


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(SMALL, tmp_path_factory.mktemp("small") / "w").out


@pytest.fixture
def world(small_world: Path, tmp_path: Path) -> Path:
    """A copy of the small world that a test may damage."""
    return Path(shutil.copytree(small_world, tmp_path / "w"))


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    warehouse = Warehouse(tmp_path / "wh.duckdb")
    yield warehouse
    warehouse.close()


@pytest.fixture
def police(world: Path) -> Iterator[BackgroundServer]:
    with BackgroundServer(world, "tok") as server, partner_environment(world, server.url, "tok"):
        yield server


def sources() -> dict[str, Source]:
    return {
        n: s.model_copy(update={"retry": FAST_RETRY}) for n, s in load_sources(SOURCES_FILE).items()
    }


def police_in_pages_of_50() -> Source:
    """The police source asking for small pages, so a fault can strike half-way."""
    police = sources()["police"]
    table = police.tables[0].model_copy(
        update={"params": {"extractDate": "{date}", "pageSize": "50"}}
    )
    return police.model_copy(update={"tables": [table]})


def by_source(reports: list[LoadReport]) -> dict[str, LoadReport]:
    return {r.source: r for r in reports}


def night_file(world: Path, night: dt.date, partner: str, name: str) -> Path:
    return world / "extracts" / night.isoformat() / partner / name


def current_ids(wh: Warehouse, source: str) -> set[str]:
    rows = wh.run(
        "SELECT source_record_id FROM person_records WHERE source = ? AND valid_to IS NULL",
        [source],
    )
    return {r[0] for r in rows}


def test_malformed_lines_are_quarantined_and_the_rest_loads(
    world: Path, wh: Warehouse, police: BackgroundServer
) -> None:
    path = night_file(world, NIGHT0, "education", "pupils.csv")
    good_rows = len(path.read_text().splitlines()) - 1
    with path.open("a", encoding="utf-8") as f:
        f.write("X1,only,three\n")
        f.write('X2,,"Unclosed,Quote,2015-01-01\n')
    r = by_source(ingest_night(wh, sources(), NIGHT0))
    edu = r["education"]
    assert edu.status == "complete"
    assert edu.rows_in == edu.rows_staged + edu.rows_quarantined
    assert edu.tables["pupils"] == (good_rows + 2, good_rows, 2)
    reasons = wh.run(
        "SELECT file, row, reasons, raw FROM quarantine WHERE source = 'education' ORDER BY row"
    )
    # Rows are numbered as an editor numbers lines: the header is line 1.
    assert reasons[0][0] == "pupils.csv" and reasons[0][1] == good_rows + 2
    assert reasons[0][2] == "row has 3 fields, the header has 17"
    assert reasons[1][1] == good_rows + 3
    assert "opens a quote that is not closed" in reasons[1][2] and "Unclosed" in reasons[1][3]
    assert all(x.status == "complete" for x in r.values())


def test_a_missing_column_fails_that_source_only_and_keeps_last_night(
    world: Path, wh: Warehouse, police: BackgroundServer
) -> None:
    first = by_source(ingest_night(wh, sources(), NIGHT0))
    assert first["childrens_social_care"].status == "complete"
    kept = current_ids(wh, "childrens_social_care")
    path = night_file(world, NIGHT1, "childrens_social_care", "referrals.csv")
    lines = path.read_text().splitlines()
    cut = lines[0].split(",").index("Surname")
    path.write_text(
        "\n".join(",".join(v for i, v in enumerate(line.split(",")) if i != cut) for line in lines)
        + "\n"
    )
    second = by_source(ingest_night(wh, sources(), NIGHT1))
    csc = second["childrens_social_care"]
    assert csc.status == "failed"
    assert "referrals.csv" in (csc.error or "") and "missing column(s) ['Surname']" in (
        csc.error or ""
    )
    # Every other source loads (a night that changes nothing of one is "unchanged").
    others = {r.status for n, r in second.items() if n != "childrens_social_care"}
    assert others <= {"complete", "unchanged"} and "complete" in others
    assert current_ids(wh, "childrens_social_care") == kept
    loads = wh.run(
        "SELECT status, error FROM loads WHERE source = 'childrens_social_care' ORDER BY started_at"
    )
    assert [s for s, _ in loads] == ["complete", "failed"]
    # Put the column back: the same night loads cleanly.
    path.write_text("\n".join(lines) + "\n")
    again = ingest_source(wh, "childrens_social_care", sources()["childrens_social_care"], NIGHT1)
    # The night's file may equal last night's: then the load is unchanged, which is right.
    assert again.status in ("complete", "unchanged")
    shown = {line.split(",")[0] for line in lines[1:]}
    assert current_ids(wh, "childrens_social_care") == shown


def test_a_wrong_encoding_names_the_file_and_line(
    world: Path, wh: Warehouse, police: BackgroundServer
) -> None:
    path = night_file(world, NIGHT0, "health", "attendances.csv")
    lines = path.read_bytes().split(b"\n")
    lines[5] = lines[5].replace(b",", b",Zo\xeb", 1)  # Windows-1252 bytes in a UTF-8 file
    path.write_bytes(b"\n".join(lines))
    r = by_source(ingest_night(wh, sources(), NIGHT0))
    assert r["health"].status == "failed"
    assert "health: attendances.csv line 6" in (r["health"].error or "")
    assert "not valid utf-8" in (r["health"].error or "")
    assert current_ids(wh, "health") == set()
    assert r["education"].status == "complete"


def test_an_event_date_that_does_not_parse_quarantines_its_row_a_birth_date_is_noted(
    world: Path, wh: Warehouse, police: BackgroundServer
) -> None:
    path = night_file(world, NIGHT0, "childrens_social_care", "referrals.csv")
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    dob, ref = header.index("Date of Birth"), header.index("Referral Date")
    row3 = lines[3].split(",")
    row3[dob] = "31/02/2015"
    lines[3] = ",".join(row3)
    row7 = lines[7].split(",")
    row7[ref] = "yesterday"
    lines[7] = ",".join(row7)
    path.write_text("\n".join(lines) + "\n")
    r = by_source(ingest_night(wh, sources(), NIGHT0))["childrens_social_care"]
    assert r.status == "complete" and r.rows_quarantined == 1
    assert r.rows_staged == len(lines) - 1 - 1
    rows = wh.run("SELECT file, row, reasons FROM quarantine ORDER BY row")
    assert rows == [
        (
            "referrals.csv",
            8,
            "field date: yesterday in column 'Referral Date' is not a date like %d/%m/%Y",
        ),
    ]
    # The child with a birth date that is no date is kept, the field empty and the slip noted.
    noted = wh.run("SELECT file, row, issue FROM field_issues WHERE field = 'dob'")
    assert (
        "referrals.csv",
        4,
        "dob in column 'Date of Birth' is not a date like %d/%m/%Y; left empty",
    ) in noted  # lines[3] is line 4 in an editor
    assert all("31/02/2015" not in issue for _, _, issue in noted)  # no birth dates in messages
    child = row3[header.index("Child ID")]
    kept = wh.run("SELECT count(*) FROM person_records WHERE source_record_id = ?", [child])
    assert kept == [(1,)]


def test_an_unreachable_database_fails_with_its_address_and_no_password(
    world: Path, wh: Warehouse, police: BackgroundServer
) -> None:
    srcs = sources()
    port = free_port()
    srcs["housing"] = srcs["housing"].model_copy(
        update={"location": f"postgresql+psycopg://housing:sekret@127.0.0.1:{port}/housing"}
    )
    r = by_source(ingest_night(wh, srcs, NIGHT0))
    assert r["housing"].status == "failed"
    error = r["housing"].error or ""
    assert f"127.0.0.1:{port}" in error and "unreachable after 2 tries" in error
    assert "sekret" not in error
    assert r["police"].status == "complete" and r["health"].status == "complete"


def test_an_api_failing_half_way_loads_nothing_then_recovers(world: Path, wh: Warehouse) -> None:
    faults = Faults(fail_from_page=3)
    with (
        BackgroundServer(world, "tok", faults=faults) as server,
        partner_environment(world, server.url, "tok"),
    ):
        src = police_in_pages_of_50()
        failed = ingest_source(wh, "police", src, NIGHT0)
        assert failed.status == "failed"
        assert "page 3" in (failed.error or "") and "server error 500 after 2 tries" in (
            failed.error or ""
        )
        assert wh.run("SELECT count(*) FROM person_records WHERE source = 'police'")[0][0] == 0
        assert (
            wh.run("SELECT count(*) FROM loads WHERE source = 'police' AND status = 'complete'")[0][
                0
            ]
            == 0
        )
        faults.fail_from_page = None
        again = ingest_source(wh, "police", src, NIGHT0)
    assert again.status == "complete" and again.rows_staged > 0


def test_an_expired_token_fails_at_once(world: Path, wh: Warehouse) -> None:
    faults = Faults(token_expires_after=2)
    with (
        BackgroundServer(world, "tok", faults=faults) as server,
        partner_environment(world, server.url, "tok"),
    ):
        src = police_in_pages_of_50()
        r = ingest_source(wh, "police", src, NIGHT0)
    assert r.status == "failed"
    assert "page 3" in (r.error or "") and "refused the token (401)" in (r.error or "")
    assert faults.requests == 3  # no retries against a refused token


def test_a_rate_limit_is_waited_out(world: Path, wh: Warehouse) -> None:
    faults = Faults(rate_limit_first=1)
    with (
        BackgroundServer(world, "tok", faults=faults) as server,
        partner_environment(world, server.url, "tok"),
    ):
        started = time.monotonic()
        r = ingest_source(wh, "police", sources()["police"], NIGHT0)
        took = time.monotonic() - started
    assert r.status == "complete"
    assert faults.requests >= 2
    # The backoff is 0 s: only the API's Retry-After (1 s) makes it wait.
    assert took >= 1.0


def test_a_record_start_that_is_no_date_or_in_the_future_is_noted_and_the_record_kept(
    world: Path, wh: Warehouse, police: BackgroundServer
) -> None:
    path = night_file(world, NIGHT0, "education", "pupils.csv")
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    entry, pupil = header.index("EntryDate"), header.index("PupilID")
    bad = {2: "2019-13-01", 5: (NIGHT0 + dt.timedelta(days=30)).isoformat()}
    for i, value in bad.items():
        row = lines[i].split(",")
        row[entry] = value
        lines[i] = ",".join(row)
    path.write_text("\n".join(lines) + "\n")
    r = by_source(ingest_night(wh, sources(), NIGHT0))["education"]
    assert r.status == "complete" and r.rows_quarantined == 0
    noted = wh.run("SELECT row, issue FROM field_issues WHERE field = 'known_since' ORDER BY row")
    assert noted == [
        (3, "known_since in column 'EntryDate' is not a date like %Y-%m-%d; left empty"),
        (6, "known_since in column 'EntryDate' is after the extract; left empty"),
    ]
    for i in bad:
        got = wh.run(
            "SELECT known_since FROM person_records WHERE source = 'education'"
            " AND source_record_id = ?",
            [lines[i].split(",")[pupil]],
        )
        assert got == [(None,)]
    # The rest carry the start the school gave.
    dated = wh.run(
        "SELECT count(*) FROM person_records WHERE source = 'education' AND known_since IS NOT NULL"
    )
    assert dated == [(len(lines) - 1 - len(bad),)]
