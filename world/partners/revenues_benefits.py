"""Revenues and benefits: tab-separated files from a legacy system, UTF-8 with a BOM, CRLF
line ends and yyyymmdd dates. Council-tax parties carry no date of birth."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from world.extracts import NO_INVOLVEMENTS, Night, Written, blank_empty, pick

PARTNER = "revenues_benefits"


def _write_tsv(frame: pl.DataFrame, path: Path) -> None:
    text = blank_empty(frame).write_csv(separator="\t", line_terminator="\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))


def _full_name() -> pl.Expr:
    forenames = pl.concat_str(["first_name", "middle_name"], separator=" ", ignore_nulls=True)
    return pl.format("{}, {}", pl.col("last_name").str.to_uppercase(), forenames)


def write(night: Night, folder: Path) -> Written:
    """Write ctax_accounts.tsv and benefit_claims.tsv."""
    parties = night.registers["ctax_parties"]
    reminders = (
        night.events.filter(pl.col("register") == "ctax_parties")
        .group_by("source_record_id")
        .agg(
            pl.len().alias("n"),
            pl.col("severity").max().alias("worst"),
            pl.col("date").max().alias("last_notice"),
        )
    )
    parties = parties.join(reminders, on="source_record_id", how="left")
    account = pl.format("CT{}", (pl.col("uprn") % 10_000_000).cast(pl.String).str.zfill(7))
    ctax = (
        parties.sort("source_record_id")
        .select(
            account.alias("ACCOUNT_REF"),
            pl.col("source_record_id").alias("PARTY_REF"),
            _full_name().alias("PARTY_NAME"),
            pl.col("uprn").alias("PROPERTY_REF"),
            pl.when(pl.col("flat") > 0)
            .then(pl.format("FLAT {}", pl.col("flat")))
            .otherwise(
                pl.format("{} {}", pl.col("house_number"), pl.col("street").str.to_uppercase())
            )
            .alias("ADDR1"),
            pl.when(pl.col("flat") > 0)
            .then(pl.format("{} {}", pl.col("house_number"), pl.col("street").str.to_uppercase()))
            .otherwise(pl.lit(""))
            .alias("ADDR2"),
            pl.col("locality").str.to_uppercase().alias("ADDR3"),
            pl.col("postcode").alias("POSTCODE"),
            (pl.col("n").fill_null(0) * 180.0 - 12.5 * pl.col("param_a")).round(2).alias("BALANCE"),
            pl.col("worst")
            .replace_strict(
                {1: "REMINDER", 2: "FINAL NOTICE", 3: "LIABILITY ORDER"}, default="NONE"
            )
            .alias("RECOVERY_STAGE"),
            pl.col("last_notice").dt.strftime("%Y%m%d").alias("STAGE_DATE"),
            pl.col("since").dt.strftime("%Y%m%d").alias("LIABLE_FROM"),
        )
        .sort("ACCOUNT_REF", "PARTY_REF")
    )
    claims = night.registers["benefit_claimants"]
    claim = claims.sort("source_record_id").select(
        pl.format("HB{}", pl.col("source_record_id").str.slice(2)).alias("CLAIM_REF"),
        pl.col("source_record_id").alias("CLAIMANT_REF"),
        _full_name().alias("CLAIMANT_NAME"),
        pl.col("recorded_dob").dt.strftime("%Y%m%d").fill_null("").alias("DOB"),
        pl.col("identifier").fill_null("").alias("NINO"),
        pick(pl.col("param_b"), ["HB", "CTR", "HB+CTR"], [30, 30, 40]).alias("CLAIM_TYPE"),
        pl.col("uprn").alias("PROPERTY_REF"),
        pl.col("postcode").alias("POSTCODE"),
        (40 + pl.col("param_a") * 160).round(2).alias("WEEKLY_AWARD"),
        pl.col("since").dt.strftime("%Y%m%d").alias("CLAIM_START"),
    )
    paths = [folder / "ctax_accounts.tsv", folder / "benefit_claims.tsv"]
    _write_tsv(ctax, paths[0])
    _write_tsv(claim, paths[1])
    return Written(paths, NO_INVOLVEMENTS)
