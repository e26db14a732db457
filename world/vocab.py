"""The word lists a world is drawn from: names, nicknames, spellings, streets and wards."""

from __future__ import annotations

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


def _pairs(frame: pl.DataFrame, key: str, value: str, symmetric: bool) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {}
    for a, b in frame.select(key, value).iter_rows():
        out.setdefault(a, set()).add(b)
        if symmetric:
            out.setdefault(b, set()).add(a)
    return {k: sorted(v - {k}) for k, v in sorted(out.items())}


@cache
def load_vocab() -> Vocab:
    """Read the word lists shipped with the package."""
    first = pl.read_csv(VOCAB_DIR / "first_names.csv")
    sur = pl.read_csv(VOCAB_DIR / "surnames.csv")
    first_by = {
        (g, s): _weighted(part.sort("name"))
        for (g, s), part in first.group_by(["group", "sex"], maintain_order=True)
    }
    sur_by = {
        g: _weighted(part.sort("name"))
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
