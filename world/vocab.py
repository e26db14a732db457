"""The word lists a world is drawn from: names, nicknames, spellings, streets and wards."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

VOCAB_DIR = Path(__file__).parent / "vocab"

ETHNIC_GROUPS: dict[str, float] = {
    # Shares loosely after the 2021 census for England and Wales.
    "white_british": 0.735,
    "white_irish": 0.009,
    "white_other_european": 0.062,
    "south_asian_indian": 0.031,
    "south_asian_pakistani_bangladeshi": 0.038,
    "black_african": 0.025,
    "black_caribbean": 0.011,
    "chinese_east_asian": 0.014,
    "arab_middle_eastern": 0.008,
    "mixed": 0.067,
}


# The shipped lists hold each group's common names. Real names have a long tail: Smith,
# the commonest surname of England and Wales, is held by about 1.2% of people, the top 500
# surnames by about 39%, and hundreds of thousands of surnames by the rest; about 40% of
# babies get a first name outside the year's top 100 (docs/world.md, "How common names
# are"). So each group's shipped names take `head` of its people, with their shipped
# weights, and names synthesised from that group's traditions (vocab/name_parts.csv) the
# rest, on a power law that carries on down the ranks after the shipped names.
@dataclass(frozen=True)
class NameTail:
    """How one group's names reach past the shipped list."""

    surname_head: float
    given_head: float
    surname_traditions: dict[str, float]
    given_traditions: dict[str, float]


NAME_TAILS: dict[str, NameTail] = {
    "white_british": NameTail(0.40, 0.85, {"english": 1.0}, {"english": 1.0}),
    "white_irish": NameTail(
        0.45, 0.85, {"irish": 0.7, "english": 0.3}, {"irish": 0.5, "english": 0.5}
    ),
    "white_other_european": NameTail(
        0.30,
        0.75,
        {"polish": 0.4, "romanian": 0.25, "italian": 0.2, "portuguese": 0.15},
        {"european": 1.0},
    ),
    "south_asian_indian": NameTail(0.60, 0.75, {"indian": 1.0}, {"indian": 1.0}),
    "south_asian_pakistani_bangladeshi": NameTail(0.70, 0.80, {"muslim": 1.0}, {"muslim": 1.0}),
    "black_african": NameTail(
        0.30,
        0.65,
        {"yoruba": 0.3, "igbo": 0.25, "akan": 0.25, "somali": 0.2},
        {"african": 1.0},
    ),
    "black_caribbean": NameTail(0.45, 0.75, {"english": 1.0}, {"caribbean": 0.6, "english": 0.4}),
    "chinese_east_asian": NameTail(
        0.80, 0.75, {"chinese": 0.6, "japanese": 0.2, "vietnamese": 0.2}, {"chinese": 1.0}
    ),
    "arab_middle_eastern": NameTail(0.45, 0.80, {"arab": 0.6, "muslim": 0.4}, {"muslim": 1.0}),
    "mixed": NameTail(1.0, 1.0, {}, {}),  # people of mixed heritage are named from a parent's group
}
TAIL_EXPONENT = 1.3  # slope of the rank-frequency curve past the shipped names (about 1.3 in life)
TAIL_NAMES = 250_000  # at most this many synthesised names per tradition and kind


@dataclass(frozen=True)
class Weighted:
    """Names and their normalised probabilities."""

    names: np.ndarray
    p: np.ndarray

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw n names by weight."""
        return rng.choice(self.names, size=n, p=self.p)


@dataclass(frozen=True)
class Vocab:
    """Everything drawn from the word lists, grouped for fast sampling."""

    first: dict[tuple[str, str], Weighted]
    surnames: dict[str, Weighted]
    double_barrelled: np.ndarray
    nicknames: dict[str, list[str]]
    variants: dict[str, list[str]]
    streets: pl.DataFrame
    areas: pl.DataFrame


def _weighted(frame: pl.DataFrame) -> Weighted:
    w = frame["weight"].to_numpy().astype(float)
    return Weighted(frame["name"].to_numpy().astype(str), w / w.sum())


_TRIPLE = re.compile(r"(.)\1\1+")


def _combine(a: str, b: str) -> str:
    joined = a + b if a.endswith(("'", "-")) else a + b.lower()
    return _TRIPLE.sub(r"\1\1", joined)  # no letter three times running: Hill + ley is Hilley


@cache
def _name_parts() -> pl.DataFrame:
    """The parts names are made of, by tradition and kind (read once)."""
    return pl.read_csv(VOCAB_DIR / "name_parts.csv")


@cache
def _synthesised(tradition: str, kind: str) -> tuple[str, ...]:
    """Every name a tradition's parts make, commonest-looking first, in a fixed order."""
    parts = _name_parts().filter(pl.col("tradition") == tradition)

    def of(k: str) -> list[str]:
        return parts.filter(pl.col("kind") == k)["part"].to_list()

    prefix = "sur" if kind == "surname" else f"given_{kind}"
    # A fixed seed a tradition: the same names in every world, like the shipped lists.
    rng = np.random.default_rng(zlib.crc32(f"{tradition}/{kind}".encode()))
    tiers = [of(f"{prefix}_single")]
    tiers.append([_combine(a, b) for a in of(f"{prefix}_a") for b in of(f"{prefix}_b")])
    tiers.append(
        [
            _combine(_combine(a, m), b)
            for a in of(f"{prefix}_a")
            for m in of(f"{prefix}_mid")
            for b in of(f"{prefix}_b")
        ]
    )
    seen: set[str] = set()
    out: list[str] = []
    for tier in tiers:  # whole names, then two parts, then three, each tier shuffled
        for name in rng.permutation(np.array(tier, dtype=object)) if tier else []:
            if name not in seen:
                seen.add(name)
                out.append(str(name))
    return tuple(out[:TAIL_NAMES])


def _with_tail(
    head: Weighted, share: float, traditions: dict[str, float], kind: str, shipped: set[str]
) -> Weighted:
    """The shipped names at `share`, and the traditions' synthesised names the rest."""
    if share >= 1.0 or not traditions:
        return head
    names = [head.names]
    p = [head.p * share]
    total = sum(traditions.values())
    for tradition, weight in traditions.items():
        tail = np.array([n for n in _synthesised(tradition, kind) if n not in shipped], dtype=str)
        if not len(tail):
            continue
        w = (len(head.names) + np.arange(1, len(tail) + 1, dtype=float)) ** -TAIL_EXPONENT
        names.append(tail)
        p.append(w / w.sum() * (1 - share) * weight / total)
    out_p = np.concatenate(p)
    return Weighted(np.concatenate(names).astype(str), out_p / out_p.sum())


def _pairs(frame: pl.DataFrame, key: str, value: str, symmetric: bool) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {}
    for a, b in frame.select(key, value).iter_rows():
        out.setdefault(a, set()).add(b)
        if symmetric:
            out.setdefault(b, set()).add(a)
    return {k: sorted(v - {k}) for k, v in sorted(out.items())}


@cache
def load_vocab(name_tails: bool = True) -> Vocab:
    """Read the word lists shipped with the package, names with their long tails or not."""
    first = pl.read_csv(VOCAB_DIR / "first_names.csv")
    sur = pl.read_csv(VOCAB_DIR / "surnames.csv")
    shipped = set(first["name"].to_list()) | set(sur["name"].to_list())
    first_by = {
        (g, s): _with_tail(
            _weighted(part.sort("name")),
            NAME_TAILS[g].given_head if name_tails else 1.0,
            NAME_TAILS[g].given_traditions,
            s,
            shipped,
        )
        for (g, s), part in first.group_by(["group", "sex"], maintain_order=True)
    }
    sur_by = {
        g: _with_tail(
            _weighted(part.sort("name")),
            NAME_TAILS[g].surname_head if name_tails else 1.0,
            NAME_TAILS[g].surname_traditions,
            "surname",
            shipped,
        )
        for (g,), part in sur.group_by(["group"], maintain_order=True)
    }
    return Vocab(
        first=first_by,
        surnames=sur_by,
        double_barrelled=pl.read_csv(VOCAB_DIR / "double_barrelled.csv")["name"]
        .to_numpy()
        .astype(str),
        nicknames=_pairs(pl.read_csv(VOCAB_DIR / "nicknames.csv"), "formal", "nickname", False),
        variants=_pairs(pl.read_csv(VOCAB_DIR / "spelling_variants.csv"), "name", "variant", True),
        streets=pl.read_csv(VOCAB_DIR / "streets.csv"),
        areas=pl.read_csv(VOCAB_DIR / "areas.csv"),
    )
