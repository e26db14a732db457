"""Each partner's extract parses under that partner's own conventions, and only those."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import polars as pl
import pytest
import sqlalchemy as sa
from worldfiles import Truth, extract, read_tsv

from world.identifiers import is_valid_nhs_number, is_valid_upn
from world.partners.housing import TABLES, copy_to
from world.police_api import BackgroundServer


def _all_parse(frame: pl.DataFrame, column: str, fmt: str) -> pl.Series:
    """Parse a text date column strictly: every non-blank value must parse."""
    values = frame[column].drop_nulls()
    parsed = values.str.to_date(fmt, strict=False)
    bad = values.filter(parsed.is_null())
    assert bad.is_empty(), f"{column}: {bad.head(5).to_list()} do not parse as {fmt}"
    return parsed


def test_childrens_social_care_csv_uses_uk_dates(world: Path) -> None:
    df = pl.read_csv(
        extract(world, 0, "childrens_social_care", "referrals.csv"), infer_schema=False
    )
    assert df.columns[:4] == ["Child ID", "Forename", "Surname", "Date of Birth"]
    assert df.height > 100
    _all_parse(df, "Date of Birth", "%d/%m/%Y")
    referral = _all_parse(df, "Referral Date", "%d/%m/%Y")
    assert (
        referral.max()
        <= pl.Series(
            [json.loads((world / "world.json").read_text())["nights"][0]["date"]]
        ).str.to_date()[0]
    )
    # The same dates do not parse the ISO way: the convention is the partner's own.
    assert df["Referral Date"].str.to_date("%Y-%m-%d", strict=False).null_count() == df.height
    nhs = df["NHS Number"].drop_nulls()
    assert nhs.len() > 0 and all(is_valid_nhs_number(v) for v in nhs)


def test_adult_social_care_workbook_has_real_dates(world: Path) -> None:
    path = extract(world, 0, "adult_social_care", "asc_export.xlsx")
    clients = pl.read_excel(path, sheet_name="Clients")
    activity = pl.read_excel(path, sheet_name="Activity")
    assert clients.schema["Date of Birth"] == pl.Date
    assert activity.schema["Activity Date"] == pl.Date
    assert clients.height > 50 and activity.height > 50
    assert set(activity["Client No"]) <= set(clients["Client No"])


def test_housing_sqlite_is_relational(world: Path) -> None:
    path = extract(world, 0, "housing", "housing.sqlite")
    con = sqlite3.connect(path)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert set(TABLES) <= tables
        orphans = con.execute(
            "SELECT count(*) FROM tenancy_member m LEFT JOIN person p USING (person_ref)"
            " WHERE p.person_ref IS NULL"
        ).fetchone()[0]
        assert orphans == 0
        leads = con.execute(
            "SELECT count(*) FROM tenancy_member WHERE relationship = 'Lead tenant'"
        ).fetchone()[0]
        tenancies = con.execute("SELECT count(*) FROM tenancy").fetchone()[0]
        assert leads == tenancies > 50
        dobs = pl.DataFrame({"d": [r[0] for r in con.execute("SELECT date_of_birth FROM person")]})
    finally:
        con.close()
    _all_parse(dobs, "d", "%Y-%m-%d")


@pytest.mark.postgres
def test_housing_database_loads_into_postgres(world: Path, postgres_url: str) -> None:
    path = extract(world, 0, "housing", "housing.sqlite")
    counts = copy_to(path, postgres_url)
    con = sqlite3.connect(path)
    try:
        for table in TABLES:
            assert counts[table] == con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()
    engine = sa.create_engine(postgres_url)
    with engine.connect() as pg:
        joined = pg.execute(
            sa.text(
                "SELECT count(*) FROM tenancy_member m JOIN person p USING (person_ref)"
                " JOIN tenancy t USING (tenancy_ref)"
            )
        ).scalar_one()
    engine.dispose()
    assert joined == counts["tenancy_member"]


def test_police_api_pages_behind_a_bearer_token(world: Path) -> None:
    stored = json.loads(extract(world, 1, "police", "incidents.json").read_text())["incidents"]
    date = json.loads((world / "world.json").read_text())["nights"][1]["date"]
    with BackgroundServer(world, "s3cret") as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/api/v1/incidents").status_code == 401
        wrong = client.get("/api/v1/incidents", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        client.headers["Authorization"] = "Bearer s3cret"
        url: str | None = f"/api/v1/incidents?extractDate={date}&pageSize=100"
        got: list[dict[str, object]] = []
        pages = 0
        while url:
            body = client.get(url).raise_for_status().json()
            got.extend(body["items"])
            pages += 1
            url = body["next"]
        assert got == stored
        assert pages == -(-len(stored) // 100) > 1
        assert client.get(f"/api/v1/incidents?extractDate={date}&page=999").status_code == 404
        assert client.get("/api/v1/incidents?extractDate=1999-01-01").status_code == 404
    nominal = got[0]["nominals"][0]  # type: ignore[index]
    assert nominal["surname"] == nominal["surname"].upper()
    assert all(ord(c) < 128 for c in nominal["surname"] + nominal["forenames"])


def test_education_csv_uses_iso_dates_and_upns(world: Path, truth: Truth) -> None:
    pupils = pl.read_csv(extract(world, 0, "education", "pupils.csv"), infer_schema=False)
    dob = _all_parse(pupils, "DOB", "%Y-%m-%d")
    assert dob.null_count() == 0 and pupils.height > 500
    upn = pupils["UPN"].drop_nulls()
    assert upn.len() > 0.9 * pupils.height
    assert all(is_valid_upn(v) for v in upn)
    assert pupils["DSLEmail"].str.ends_with(".sch.example").all()
    susp = pl.read_csv(extract(world, 0, "education", "suspensions.csv"), infer_schema=False)
    _all_parse(susp, "StartDate", "%Y-%m-%d")
    assert set(susp["PupilID"]) <= set(pupils["PupilID"])


def test_health_csv_nhs_numbers_check(world: Path) -> None:
    df = pl.read_csv(extract(world, 0, "health", "attendances.csv"), infer_schema=False)
    _all_parse(df, "DATE_OF_BIRTH", "%d-%b-%Y")
    _all_parse(df, "ATTENDANCE_DATE", "%d-%b-%Y")
    nhs = df["NHS_NUMBER"].drop_nulls()
    assert nhs.len() > 0.9 * df.height
    assert all(is_valid_nhs_number(v) for v in nhs)
    assert set(df["SEX"].unique()) == {"1", "2"}
    assert (~df["POSTCODE"].str.contains(" ")).all()


def test_revenues_benefits_tsv_conventions(world: Path) -> None:
    path = extract(world, 0, "revenues_benefits", "ctax_accounts.tsv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    ctax = read_tsv(path)
    assert "DOB" not in ctax.columns  # council tax knows no dates of birth
    assert ctax["PARTY_NAME"].str.contains(r"^[^,]+, ").all()
    claims = read_tsv(extract(world, 0, "revenues_benefits", "benefit_claims.tsv"))
    _all_parse(claims, "DOB", "%Y%m%d")


def test_directory_has_work_emails_at_example_domains(world: Path) -> None:
    pros = pl.read_csv(world / "directory" / "professionals.csv")
    assert pros["email"].str.contains(r"@[a-z0-9.-]+\.example$").all()
    assert pros["email"].n_unique() == pros.height
    assert set(pros["agency"]) == {
        "childrens_social_care",
        "adult_social_care",
        "housing",
        "police",
        "health",
        "revenues_benefits",
    }
