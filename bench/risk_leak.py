"""Benchmark: what partners' start dates are worth to training on records as they existed.

Given a world made, loaded, linked and scored by `bench/risk_worlds.py`, this copies its
warehouse and trains the risk models on the copy twice: with the start dates partners
give for their records (`person_records.known_since`) as loaded, and with them emptied,
as a warehouse loaded before partners gave them would be. Each prints the persons at the
training date and the models' held-out and truth AUCs. The copy is removed afterwards;
the world's own warehouse is not touched.

    .venv/bin/python bench/risk_leak.py --world-folder /tmp/jw60/seed21-errors1

The same command run from a checkout before features read records as they existed gives
the leaky figure on the same warehouse (docs/benchmarks.md, "Issue 18").
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

# This folder's alerts.py would stand in for the alerts package: look from the top.
sys.path[0] = str(Path(__file__).resolve().parents[1])


def main() -> None:
    """Train on a copy of the warehouse with and without partners' start dates."""
    import duckdb

    from risk_models import train_risk

    p = argparse.ArgumentParser()
    p.add_argument("--world-folder", type=Path, required=True, help="a risk_worlds.py folder")
    p.add_argument(
        "--variants", nargs="+", default=["as-given", "no-start-dates"], help="which to train"
    )
    args = p.parse_args()
    folder: Path = args.world_folder
    for variant in args.variants:
        with tempfile.TemporaryDirectory(prefix="risk-leak-") as tmp:
            warehouse = Path(tmp) / "warehouse.duckdb"
            shutil.copy(folder / "warehouse.duckdb", warehouse)
            con = duckdb.connect(str(warehouse))
            try:
                columns = {
                    r[0]
                    for r in con.execute(
                        "SELECT column_name FROM information_schema.columns"
                        " WHERE table_name = 'person_records'"
                    ).fetchall()
                }
                held = 0
                if "known_since" in columns:
                    held = con.execute(
                        "SELECT count(*) FROM person_records WHERE known_since IS NOT NULL"
                    ).fetchall()[0][0]
                    if variant == "no-start-dates":
                        con.execute("UPDATE person_records SET known_since = NULL")
            finally:
                con.close()
            trained = train_risk(warehouse, Path(tmp) / "models", world=folder / "world")
            print(f"{folder.name}, {variant} ({held:,} record versions with a start date loaded):")
            print("\n".join(f"  {line}" for line in trained.lines))


if __name__ == "__main__":
    main()
