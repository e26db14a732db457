"""Benchmark: how concentrated a world's names are, against published figures.

    .venv/bin/python bench/names.py --world DIR [--world DIR2 ...] [--reference]

For each world: the share of people who share their full name (first and last) with
someone else, distinct first names and surnames, and the share of people holding the
most common 1, 10, 100 and 500 surnames. `--reference` estimates the same share for a
town of the world's size whose names follow the published figures (sources in
docs/world.md, "How common names are"): surnames on the national rank-frequency curve of
England and Wales, first names on the 2008 births (the least concentrated) or on the
world's shipped first names (the most), first and last names drawn independently.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import polars as pl

# Surnames, Great Britain: people per million at a rank (surname profiler figures, and the
# 1996 electoral-register shares of the top ten).
SURNAME_PER_MILLION = [
    (1, 12_000), (2, 9_000), (3, 6_200), (4, 5_800), (5, 5_600), (6, 4_700), (7, 4_200),
    (8, 3_800), (9, 3_400), (10, 3_200), (15, 3_523), (43, 2_171), (49, 2_082), (77, 1_449),
    (82, 1_380), (93, 1_294), (128, 942), (390, 420), (563, 288), (746, 217), (788, 206),
    (1_318, 146), (1_942, 86), (2_340, 73), (2_534, 63), (3_176, 45), (3_472, 42),
    (3_680, 38), (4_435, 31), (4_605, 30), (5_799, 22), (11_886, 9), (13_582, 7),
    (16_554, 5),
]  # fmt: skip
UK_PEOPLE = 65_000_000
SINGLETON_PEOPLE = 200_000  # people whose surname no one else in Britain holds

# First names given to babies in England and Wales in 2008: (top 1, top 10, top 100)
# shares, and the number of distinct names.
BIRTHS_2008 = {"M": ((0.0221, 0.164, 0.577), 26_815), "F": ((0.0154, 0.128, 0.474), 34_043)}


def surname_curve() -> np.ndarray:
    """Share of people holding each surname, by rank, for Britain."""
    ranks = np.array([r for r, _ in SURNAME_PER_MILLION], dtype=float)
    per_m = np.array([f for _, f in SURNAME_PER_MILLION], dtype=float)
    slope = np.log(per_m[-3] / per_m[-1]) / np.log(ranks[-1] / ranks[-3])
    head = np.exp(np.interp(np.log(np.arange(1, ranks[-1] + 1)), np.log(ranks), np.log(per_m)))
    # Beyond the last anchor the curve falls on at the slope of the last stretch until a
    # name has two bearers in the country; people with a name of their own make the rest.
    r = np.arange(ranks[-1] + 1, 5_000_000)
    tail = per_m[-1] * (r / ranks[-1]) ** -slope
    tail = tail[tail * UK_PEOPLE / 1e6 >= 2]
    shares = np.concatenate([head, tail]) / 1e6
    singles = SINGLETON_PEOPLE / UK_PEOPLE
    out: np.ndarray = np.concatenate([shares, np.full(SINGLETON_PEOPLE, 1 / UK_PEOPLE)])
    out /= shares.sum() + singles
    return out


def first_name_curve(tops: tuple[float, float, float], distinct: int) -> np.ndarray:
    """Shares by rank through (top 1, top 10, top 100) and `distinct` names, power law between."""
    anchors = [(1, tops[0]), (10, tops[1]), (100, tops[2]), (distinct, 1.0)]
    shares = [np.array([tops[0]])]
    start_f = tops[0]
    for (r0, c0), (r1, c1) in itertools.pairwise(anchors):
        ranks = np.arange(r0 + 1, r1 + 1, dtype=float)
        lo, hi = 0.0, 6.0
        for _ in range(60):  # the exponent that gives the segment its share, continuous at r0
            b = (lo + hi) / 2
            seg = start_f * (ranks / r0) ** -b
            lo, hi = (b, hi) if seg.sum() > c1 - c0 else (lo, b)
        shares.append(seg)
        start_f = seg[-1]
    out: np.ndarray = np.concatenate(shares)
    out /= out.sum()
    return out


def sharing_share(
    rng: np.random.Generator, people: int, first: dict[str, np.ndarray], last: np.ndarray
) -> float:
    """Share of `people` (half each sex) who share first and last name with someone else."""
    shared = 0
    for curve in first.values():
        n = people // 2
        f = rng.choice(len(curve), n, p=curve)
        s = rng.choice(len(last), n, p=last)
        key = f.astype(np.int64) * 10_000_000 + s
        _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        shared += int((counts[inverse] > 1).sum())
    return shared / (people // 2 * 2)


def world_figures(world: Path) -> dict[str, float | int | str]:
    """Name concentration of a world's people."""
    p = pl.read_parquet(world / "truth" / "persons.parquet")
    full = p.group_by("first_name", "last_name").len()
    shared = p.join(full, on=["first_name", "last_name"]).filter(pl.col("len") > 1).height
    sur = p.group_by("last_name").len().sort("len", descending=True)["len"].to_numpy() / p.height
    out: dict[str, float | int | str] = {
        "people": p.height,
        "share sharing full name": shared / p.height,
        "distinct full names": full.height,
        "distinct surnames": len(sur),
        "distinct first names": p["first_name"].n_unique(),
        "surname holding one person": int((p.group_by("last_name").len()["len"] == 1).sum()),
    }
    for k in (1, 10, 100, 500):
        out[f"top {k} surnames"] = float(sur[:k].sum())
    for sex in ("M", "F"):
        q = p.filter(pl.col("sex") == sex)
        c = q.group_by("first_name").len().sort("len", descending=True)["len"].to_numpy()
        out[f"first names {sex}: top 1 / 10 / 100"] = " / ".join(
            f"{c[:k].sum() / q.height:.3f}" for k in (1, 10, 100)
        )
    return out


def world_first_names(world: Path) -> dict[str, np.ndarray]:
    """A world's first names by sex, as shares by rank."""
    p = pl.read_parquet(world / "truth" / "persons.parquet")
    out = {}
    for sex in ("M", "F"):
        c = p.filter(pl.col("sex") == sex).group_by("first_name").len()["len"].to_numpy()
        out[sex] = np.sort(c)[::-1] / c.sum()
    return out


def main() -> None:
    """Print each world's figures, and the reference estimate if asked."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=Path, action="append", default=[])
    ap.add_argument("--reference", action="store_true")
    ap.add_argument("--people", type=int, default=300_000)
    args = ap.parse_args()
    for w in args.world:
        print(f"world {w}")
        for k, v in world_figures(w).items():
            shown = f"{v:.4f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else v
            print(f"  {k}: {shown}")
    if args.reference:
        last = surname_curve()
        print(
            f"reference surnames (Britain): {len(last):,} names; top 1 / 10 / 100 / 500 hold "
            + " / ".join(f"{last[:k].sum():.4f}" for k in (1, 10, 100, 500))
        )
        rng = np.random.default_rng(1)
        town = rng.choice(len(last), args.people, p=last)
        _, counts = np.unique(town, return_counts=True)
        print(
            f"a town of {args.people:,} drawn from them: {len(counts):,} distinct surnames, "
            f"{(counts == 1).sum():,} held by one person; top 1 / 10 / 100 / 500 hold "
            + " / ".join(
                f"{np.sort(counts)[::-1][:k].sum() / args.people:.4f}" for k in (1, 10, 100, 500)
            )
        )
        births = {s: first_name_curve(*BIRTHS_2008[s]) for s in ("M", "F")}
        low = sharing_share(rng, args.people, births, last)
        print(
            f"town of {args.people:,}, national surnames, 2008-births first names: "
            f"{low:.3f} share their full name"
        )
        for w in args.world:
            high = sharing_share(rng, args.people, world_first_names(w), last)
            print(
                f"town of {args.people:,}, national surnames, first names of {w}: "
                f"{high:.3f} share their full name"
            )
        # Surnames cluster by region: a town holds fewer of them, more often. As a bound,
        # the same with every surname's share in the town doubled for the top 1,000.
        local = last.copy()
        local[:1000] *= 2
        local /= local.sum()
        both = sharing_share(rng, args.people, births, local)
        print(
            f"the same, 2008-births first names, the top 1,000 surnames twice as common "
            f"locally (top 100 hold {local[:100].sum():.3f}): {both:.3f}"
        )


if __name__ == "__main__":
    main()
