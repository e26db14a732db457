"""The warehouse tables linkage owns, and the person records it reads from the contracts.

`persons` (record to person, valid from a night until a night) and `person_history` (new
persons, merges and splits) keep each night's persons with history, as the contract
tables keep records. `households` is kept the same way. `linkage_pairs` holds every
current scored pair, and `linkage_runs` one row per night linked.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

TABLES_DDL = """
CREATE TABLE IF NOT EXISTS persons (
    unique_id VARCHAR NOT NULL, source VARCHAR NOT NULL, source_record_id VARCHAR NOT NULL,
    person_id VARCHAR NOT NULL, valid_from DATE NOT NULL, valid_to DATE
);
CREATE TABLE IF NOT EXISTS person_history (
    night DATE NOT NULL, change VARCHAR NOT NULL, person_id VARCHAR NOT NULL,
    other_id VARCHAR, records BIGINT
);
CREATE TABLE IF NOT EXISTS households (
    person_id VARCHAR NOT NULL, household_id VARCHAR NOT NULL, basis VARCHAR NOT NULL,
    address_key VARCHAR NOT NULL, relationship VARCHAR, valid_from DATE NOT NULL, valid_to DATE
);
CREATE TABLE IF NOT EXISTS linkage_pairs (
    night DATE NOT NULL, unique_id_l VARCHAR NOT NULL, unique_id_r VARCHAR NOT NULL,
    match_probability DOUBLE NOT NULL, match_weight DOUBLE NOT NULL
);
ALTER TABLE linkage_pairs ADD COLUMN IF NOT EXISTS refused_by_clustering BOOLEAN;
CREATE TABLE IF NOT EXISTS linkage_runs (
    night DATE NOT NULL, model VARCHAR NOT NULL, threshold DOUBLE NOT NULL,
    records BIGINT, persons BIGINT, pairs BIGINT, seconds DOUBLE, finished_at TIMESTAMP
);
"""

# Households were once written whole every night (a `night` column): each night's row
# becomes valid from its night until the next night linked.
HOUSEHOLDS_BY_NIGHT = """
ALTER TABLE households ADD COLUMN IF NOT EXISTS relationship VARCHAR;
CREATE TABLE households_by_validity AS
SELECT h.person_id, h.household_id, h.basis, h.address_key, h.relationship,
       h.night AS valid_from, min(n.night) AS valid_to
FROM households h LEFT JOIN (SELECT DISTINCT night FROM households) n ON n.night > h.night
GROUP BY ALL;
DROP TABLE households;
ALTER TABLE households_by_validity RENAME TO households;
"""

# Linkage and households read every column of person_records but these.
UNREAD = 'phone, email, ethnicity, "table", file, "row", row_hash, loaded_by, closed_by, valid_to'


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Make linkage's tables if they are missing, moving an older layout on first."""
    old_layout = con.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'households' AND column_name = 'night'"
    ).fetchall()
    if old_layout:
        con.execute(HOUSEHOLDS_BY_NIGHT).fetchall()
    con.execute(TABLES_DDL).fetchall()


def records_as_of(con: duckdb.DuckDBPyConnection, night: dt.date | None) -> pl.DataFrame:
    """The person records held on a night (the current ones with None), as linkage reads them."""
    if night is None:
        current: pl.DataFrame = con.sql(
            f"SELECT * EXCLUDE ({UNREAD}) FROM person_records WHERE valid_to IS NULL"
        ).pl()
        return current
    found: pl.DataFrame = con.sql(
        f"SELECT * EXCLUDE ({UNREAD}) FROM person_records"
        " WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
        params=[night, night],
    ).pl()
    return found
