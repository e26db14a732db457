"""The error model: how a partner's record of a person departs from the truth.

Which errors a record carries is drawn once, when the record is created, together with
the uniform numbers that pick where a typo lands or which nickname is used; rendering
applies them to whatever the partner knows on a night, so an error is stable from night
to night until the partner corrects the record.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import polars as pl

from world.config import ErrorRates
from world.vocab import Vocab

NAME_ERRORS = (
    "nickname",
    "spelling_variant",
    "typo",
    "transposition",
    "name_swap",
    "surname_part",
    "accent_dropped",
)
DOB_ERRORS = ("dob_missing", "dob_partial", "dob_day_month_swap", "dob_typo")
ADDRESS_ERRORS = ("stale_address", "postcode_typo")
ALL_ERRORS = (*NAME_ERRORS, *DOB_ERRORS, *ADDRESS_ERRORS, "blank_identifier")

_KEYBOARD_NEAR = {
    "a": "sqz",
    "b": "vn",
    "c": "xv",
    "d": "sf",
    "e": "wr",
    "f": "dg",
    "g": "fh",
    "h": "gj",
    "i": "uo",
    "j": "hk",
    "k": "jl",
    "l": "k",
    "m": "n",
    "n": "bm",
    "o": "ip",
    "p": "o",
    "q": "w",
    "r": "et",
    "s": "ad",
    "t": "ry",
    "u": "yi",
    "v": "cb",
    "w": "qe",
    "x": "zc",
    "y": "tu",
    "z": "x",
}
_POSTCODE_SWAPS = {
    "0": "O",
    "O": "0",
    "1": "I",
    "I": "1",
    "5": "S",
    "S": "5",
    "8": "B",
    "B": "8",
    "2": "Z",
    "Z": "2",
    "6": "G",
    "G": "6",
}


def plain(text: str) -> str:
    """Text without accents or apostrophes, as systems that take only ASCII keep it."""
    decomposed = unicodedata.normalize("NFKD", text)
    out = "".join(c for c in decomposed if not unicodedata.combining(c))
    return out.replace("'", "").replace("Ł", "L").replace("ł", "l").replace("ø", "o")


def has_accent_or_apostrophe(text: str) -> bool:
    """True when plain() would change the text."""
    return plain(text) != text


def typo(text: str, u: float, v: float) -> str:
    """One keyboard slip: a near key struck instead, a letter doubled, or a letter lost."""
    if len(text) < 2:
        return text + "e"
    i = min(int(u * len(text)), len(text) - 1)
    kind = int(v * 3)
    ch = text[i]
    if kind == 0:
        near = _KEYBOARD_NEAR.get(ch.lower(), "e")
        sub = near[int(v * 997) % len(near)]
        sub = sub.upper() if ch.isupper() else sub
        return text[:i] + sub + text[i + 1 :]
    if kind == 1:
        return text[: i + 1] + ch.lower() + text[i + 1 :]
    return text[:i] + text[i + 1 :] if i > 0 else text[1:].capitalize()


def transpose(text: str, u: float) -> str:
    """Two neighbouring letters swapped, never the first (people check that one)."""
    if len(text) < 3:
        return text[::-1]
    i = 1 + min(int(u * (len(text) - 2)), len(text) - 3)
    if text[i] == text[i + 1]:
        i = 1 if i != 1 else 2 if len(text) > 3 else i
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def postcode_typo(postcode: str, u: float, v: float) -> str:
    """A look-alike character, or a neighbouring digit, in one place of the postcode."""
    chars = [i for i, c in enumerate(postcode) if c != " "]
    i = chars[min(int(u * len(chars)), len(chars) - 1)]
    c = postcode[i]
    if c in _POSTCODE_SWAPS and v < 0.5:
        new = _POSTCODE_SWAPS[c]
    elif c.isdigit():
        new = str((int(c) + 1 + int(v * 8)) % 10)
    else:
        new = chr(ord("A") + (ord(c) - ord("A") + 1 + int(v * 24)) % 26)
    return postcode[:i] + new + postcode[i + 1 :]


def surname_part(surname: str, u: float) -> str:
    """A two-part surname kept as one part, or with its hyphen lost."""
    parts = surname.replace("-", " ").split()
    if u < 0.4:
        return parts[0]
    if u < 0.8:
        return parts[-1]
    return " ".join(parts) if "-" in surname else "-".join(parts)


def draw_errors(rng: np.random.Generator, n: int, rates: ErrorRates) -> pl.DataFrame:
    """Uniform draws deciding each record's errors; eligibility is applied when rendered."""
    cols: dict[str, np.ndarray] = {}
    for name in ALL_ERRORS:
        cols[f"u_{name}"] = rng.random(n).astype(np.float32)
    cols["param_a"] = rng.random(n).astype(np.float32)
    cols["param_b"] = rng.random(n).astype(np.float32)
    return pl.DataFrame(cols)


def eligibility(
    frame: pl.DataFrame, vocab: Vocab, carries_dob: bool, identifier: str | None
) -> pl.DataFrame:
    """Which errors each record could carry, given the truth it starts from."""
    nick = list(vocab.nicknames)
    var = list(vocab.variants)
    first, last = pl.col("first_name"), pl.col("last_name")
    day, month = pl.col("dob").dt.day(), pl.col("dob").dt.month()
    accent = first.map_elements(
        has_accent_or_apostrophe, return_dtype=pl.Boolean
    ) | last.map_elements(has_accent_or_apostrophe, return_dtype=pl.Boolean)
    return frame.select(
        first.is_in(nick).alias("e_nickname"),
        (first.is_in(var) | last.is_in(var)).alias("e_spelling_variant"),
        pl.lit(True).alias("e_typo"),
        (pl.min_horizontal(first.str.len_chars(), last.str.len_chars()) >= 3).alias(
            "e_transposition"
        ),
        pl.lit(True).alias("e_name_swap"),
        last.str.contains(r"[- ]").alias("e_surname_part"),
        accent.alias("e_accent_dropped"),
        pl.lit(carries_dob).alias("e_dob_missing"),
        pl.lit(carries_dob).alias("e_dob_partial"),
        (pl.lit(carries_dob) & (day <= 12) & (day != month)).alias("e_dob_day_month_swap"),
        pl.lit(carries_dob).alias("e_dob_typo"),
        pl.lit(True).alias("e_stale_address"),
        pl.lit(True).alias("e_postcode_typo"),
        (pl.col(identifier).is_not_null() if identifier else pl.lit(False)).alias(
            "e_blank_identifier"
        ),
    )
