"""recordlinkage's ECM classifier on each external set: the baseline an analyst reaching
for the Python Record Linkage Toolkit would get, configured from the files' headers.

Runs beside `make_sets.py`, in its environment (`bench/link_external.py` starts it):

    .tools/bin/uv run --no-project --with pseudopeople==1.3.1 --with recordlinkage==0.16 \
        python bench/external/ecm.py --sets /tmp/jexternal

Writes `ecm_pairs.csv` (unique_id_l, unique_id_r) and `ecm_clusters.csv` (unique_id,
cluster_id: connected components of the pairs) into each set's folder.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd
import recordlinkage as rl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# Per set: each file's id column and its columns under common names; None for absent.
COMMON = ("first_name", "last_name", "dob", "street", "number", "town", "postcode")
FEBRL = {
    "first_name": "given_name",
    "last_name": "surname",
    "dob": "date_of_birth",
    "street": "address_1",
    "number": "street_number",
    "town": "suburb",
    "postcode": "postcode",
}
SETS: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    "febrl4": {"a": ("rec_id", FEBRL), "b": ("rec_id", FEBRL)},
    "febrl3": {"records": ("rec_id", FEBRL)},
    "census_tax": {
        "census": (
            "record_id",
            {
                "first_name": "first_name",
                "last_name": "last_name",
                "street": "street_name",
                "number": "street_number",
                "town": "city",
                "postcode": "zipcode",
            },
        ),
        "tax": (
            "form_id",
            {
                "first_name": "first_name",
                "last_name": "last_name",
                "street": "mailing_address_street_name",
                "number": "mailing_address_street_number",
                "town": "mailing_address_city",
                "postcode": "mailing_address_zipcode",
            },
        ),
    },
    "census_households": {
        "census": (
            "record_id",
            {
                "last_name": "last_name",
                "street": "street_name",
                "number": "street_number",
                "town": "city",
                "postcode": "zipcode",
            },
        ),
    },
    **{
        name: {
            side: (
                key,
                {
                    "first_name": "first_name",
                    "last_name": "last_name",
                    "dob": "date_of_birth",
                    "street": "street_name",
                    "number": "street_number",
                    "town": "city",
                    "postcode": "zipcode",
                },
            )
            for side, key in (("census", "record_id"), ("survey", "survey_id"))
        }
        for name in ("heldout_census_acs", "heldout_census_cps")
    },
    "census_ssa": {
        "census": (
            "record_id",
            {"first_name": "first_name", "last_name": "last_name", "dob": "date_of_birth"},
        ),
        "ssa": (
            "ssa_id",
            {"first_name": "first_name", "last_name": "last_name", "dob": "date_of_birth"},
        ),
    },
}


def _read(folder: Path, source: str, key: str, columns: dict[str, str]) -> pd.DataFrame:
    raw = pd.read_csv(folder / f"{source}.csv", dtype=str, keep_default_na=False)
    frame = pd.DataFrame({c: raw[col].str.lower().str.strip() for c, col in columns.items()})
    if "dob" in frame:  # one form of date on both sides: digits only, year first
        digits = frame["dob"].str.replace(r"\D", "", regex=True)
        us = digits.str.len().eq(8) & raw[columns["dob"]].str.contains("/")
        frame["dob"] = digits.where(~us, digits.str[4:] + digits.str[:4])
    frame.index = f"{source}:" + raw[key]
    return frame.replace("", None)


def ecm(folder: Path, files: dict[str, tuple[str, dict[str, str]]]) -> pd.MultiIndex:
    """Block, compare and classify with ECM, as the toolkit's own examples do."""
    frames = [_read(folder, s, key, cols) for s, (key, cols) in files.items()]
    present = [c for c in COMMON if all(c in f for f in frames)]
    index = rl.Index()
    if "first_name" in present:
        index.block("first_name")
    index.block("last_name")
    if "dob" in present:
        index.block("dob")
    else:
        index.block(["number", "street"])
    pairs = index.index(*frames)
    compare = rl.Compare()
    for column in present:
        if column in ("first_name", "last_name", "street", "town"):
            compare.string(column, column, method="jarowinkler", threshold=0.85, label=column)
        else:
            compare.exact(column, column, label=column)
    features = compare.compute(pairs, *frames)
    return rl.ECMClassifier(binarize=0.5).fit_predict(features)


def clusters(ids: list[str], links: pd.MultiIndex) -> pd.DataFrame:
    """Connected components of the links: every record, in a cluster of its own if unlinked."""
    position = {u: i for i, u in enumerate(ids)}
    left = [position[a] for a, _ in links]
    right = [position[b] for _, b in links]
    graph = coo_matrix(([1] * len(left), (left, right)), shape=(len(ids), len(ids)))
    _, label = connected_components(graph, directed=False)
    return pd.DataFrame({"unique_id": ids, "cluster_id": [f"c{x}" for x in label]})


def main() -> None:
    """Run ECM on every set found under --sets."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", type=Path, required=True)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    for name, files in SETS.items():
        folder = args.sets / name
        if not folder.is_dir():
            continue
        t0 = time.perf_counter()
        links = ecm(folder, files)
        pd.DataFrame(list(links), columns=["unique_id_l", "unique_id_r"]).to_csv(
            folder / "ecm_pairs.csv", index=False
        )
        ids = pd.read_csv(folder / "truth.csv", dtype=str)["unique_id"].tolist()
        clusters(ids, links).to_csv(folder / "ecm_clusters.csv", index=False)
        print(f"{name}: {len(links):,} ECM links in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
