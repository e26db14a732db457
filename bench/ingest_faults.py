"""The fault matrix of `docs/connectors.md`: each bad partner file of `tests/ingest_faults.py`
loaded between two good nights, with what the damaged night was marked, the words it was
given, whether the next good night loaded as its file says, and how many of the partner's
300 records the damaged night lost.

    .venv/bin/python bench/ingest_faults.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from ingest_faults import FAULTS, PEOPLE, run_fault


def main() -> None:
    """Run every fault and print the matrix as Markdown."""
    t0 = time.perf_counter()
    print(f"partner: youth_justice, {PEOPLE} records a night; night 2 damaged, night 3 good\n")
    print("| case | message | marked | recovered | lost |")
    print("|---|---|---|---|---|")
    lost = 0
    for fault in FAULTS:
        with tempfile.TemporaryDirectory(prefix="jfault") as tmp:
            r = run_fault(fault, Path(tmp))
        message = r.message.split(". If the partner's extract is right")[0]
        marked = r.status + (f" ({r.quarantined} row quarantined)" if r.quarantined else "")
        print(f"| {r.case} | {message} | {marked} | {'yes' if r.recovered else 'NO'} | {r.lost} |")
        lost += r.lost
    print(f"\n{len(FAULTS)} faults, {lost} records lost, {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
