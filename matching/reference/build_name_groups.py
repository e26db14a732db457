"""Rebuild name_groups.csv from the team's word lists (run this file with Python).

Every nickname pair and every spelling-variant pair that involves a given name joins two
names into one group (union-find); names are standardised as the connectors do.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from world.errors import plain

HERE = Path(__file__).parent
VOCAB = HERE.parents[1] / "world" / "vocab"


def standard(name: str) -> str:
    """A name as the connectors' clean_name leaves it."""
    return " ".join(plain(name).upper().replace(".", "").replace("-", " ").split())


def main() -> None:
    """Write name_groups.csv beside this file."""
    nick = pl.read_csv(VOCAB / "nicknames.csv")
    var = pl.read_csv(VOCAB / "spelling_variants.csv")
    given = set(pl.read_csv(VOCAB / "first_names.csv")["name"])
    pairs = list(zip(nick["formal"], nick["nickname"], strict=True))
    pairs += [
        (a, b) for a, b in zip(var["name"], var["variant"], strict=True) if a in given or b in given
    ]
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(standard(a)), find(standard(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    names = sorted(parent)
    group = {root: i + 1 for i, root in enumerate(sorted({find(n) for n in names}))}
    pl.DataFrame({"name": names, "group_id": [group[find(n)] for n in names]}).write_csv(
        HERE / "name_groups.csv"
    )
    print(f"{len(names)} names in {len(group)} groups")


if __name__ == "__main__":
    main()
