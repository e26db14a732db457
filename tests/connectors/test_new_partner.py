"""A partner we have never seen is added by writing config only (docs/connectors.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from connectors.config import load_sources
from connectors.ingest import ingest_source
from connectors.warehouse import Warehouse

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "youth_justice.yaml"
NIGHT = dt.date(2026, 11, 1)
ROWS = [
    "YJS Ref;Given Name;Family Name;D.O.B.;Gender;Post Code;Order Ref;Order Type;Order Start;"
    "Offence Category;Case Worker",
    "YJ0001;Zoë;O'Brien;03.07.09;Female;ju3 4ab;ORD-1;Referral Order;12.10.26;Theft;Sam Patel",
    "YJ0002;Seán;Murphy-Jones;15.01.08;Male;JU14AA;ORD-2;Youth Rehabilitation Order;01.09.26;"
    "Violence;Sam Patel",
    "YJ0002;Seán;Murphy-Jones;15.01.08;Male;JU14AA;ORD-3;Out of court disposal;20.10.26;"
    "Criminal damage;Ann Lee",
    "YJ0003;Kai;Smith;31.02.10;Male;JU5 6CD;ORD-4;Referral Order;02.10.26;Theft;Ann Lee",
]


def test_a_new_partner_loads_by_config_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop = tmp_path / "drop" / NIGHT.isoformat()
    drop.mkdir(parents=True)
    (drop / "yjs_caseload_20261101.csv").write_bytes(("\r\n".join(ROWS) + "\r\n").encode("cp1252"))
    monkeypatch.setenv("YJS_DROP", str(tmp_path / "drop"))
    source = load_sources(EXAMPLE)["youth_justice"]
    wh = Warehouse(tmp_path / "wh.duckdb")
    try:
        report = ingest_source(wh, "youth_justice", source, NIGHT)
        assert report.status == "complete", report.line()
        assert (report.rows_in, report.rows_staged, report.rows_quarantined) == (4, 4, 0)
        people = wh.run(
            "SELECT source_record_id, first_name, last_name, dob, sex, postcode"
            " FROM person_records ORDER BY 1"
        )
        assert people == [
            ("YJ0001", "ZOE", "OBRIEN", dt.date(2009, 7, 3), "F", "JU3 4AB"),
            ("YJ0002", "SEAN", "MURPHY JONES", dt.date(2008, 1, 15), "M", "JU1 4AA"),
            # 31.02.10 is no date: Kai is kept, with the date of birth left empty and noted.
            ("YJ0003", "KAI", "SMITH", None, "M", "JU5 6CD"),
        ]
        events = wh.run("SELECT event_id, type, date FROM events ORDER BY 1")
        assert events == [
            ("ORD-1", "yjs_referral_order", dt.date(2026, 10, 12)),
            ("ORD-2", "yjs_rehabilitation_order", dt.date(2026, 9, 1)),
            ("ORD-3", "yjs_out_of_court", dt.date(2026, 10, 20)),
            ("ORD-4", "yjs_referral_order", dt.date(2026, 10, 2)),
        ]
        workers = wh.run("SELECT source_record_id, professional FROM involvements ORDER BY 1, 2")
        assert workers == [
            ("YJ0001", "Sam Patel"),
            ("YJ0002", "Ann Lee"),
            ("YJ0002", "Sam Patel"),
            ("YJ0003", "Ann Lee"),
        ]
        assert wh.run("SELECT * FROM quarantine") == []
        noted = wh.run("SELECT file, row, field, issue FROM field_issues")
        assert noted == [
            (
                "yjs_caseload_20261101.csv",
                5,  # the file's fifth line: the header is line 1
                "dob",
                "dob in column 'D.O.B.' is not a date like %d.%m.%y; left empty",
            )
        ]
    finally:
        wh.close()
