"""Identifiers as partners issue them: NHS numbers, UPNs, NI numbers and UPRNs.

All are made in bulk with numpy and carry the check characters their real schemes use,
so a connector that validates them has something true to validate.
"""

from __future__ import annotations

import numpy as np

_NHS_WEIGHTS = np.arange(10, 1, -1)
# The UPN check letter alphabet leaves out I, O and S.
_UPN_LETTERS = np.array(list("ABCDEFGHJKLMNPQRTUVWXYZ"))
_UPN_VALUE = {c: i for i, c in enumerate(_UPN_LETTERS)}
# NI number prefixes: D, F, I, Q, U and V are never used; O is not a second letter.
_NI_FIRST = np.array(list("ABCEGHJKLMNOPRSTWXYZ"))
_NI_SECOND = np.array(list("ABCEGHJKLMNPRSTWXYZ"))
_NI_SUFFIX = np.array(list("ABCD"))
_NI_NEVER = np.array(["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"])


def nhs_check_digit(nine_digits: np.ndarray) -> np.ndarray:
    """Modulus-11 check digit for rows of nine digits; 10 marks a number that cannot be issued."""
    total = (nine_digits * _NHS_WEIGHTS).sum(axis=1)
    check = 11 - total % 11
    return np.where(check == 11, 0, check)


def nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw n distinct valid NHS numbers as ten-character strings."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        need = n - len(out)
        digits = rng.integers(0, 10, size=(need * 11 // 10 + 10, 9))
        digits[:, 0] = rng.integers(4, 8, size=len(digits))  # issued ranges start 4 to 7
        check = nhs_check_digit(digits)
        ok = check != 10
        full = np.concatenate([digits[ok], check[ok, None]], axis=1)
        for row in full.astype("U1"):
            s = "".join(row)
            if s not in seen:
                seen.add(s)
                out.append(s)
                if len(out) == n:
                    break
    return np.array(out)


def is_valid_nhs_number(value: str) -> bool:
    """True when value is ten digits whose last is the modulus-11 check of the first nine."""
    if len(value) != 10 or not value.isdigit():
        return False
    digits = np.array([int(c) for c in value])
    return bool(int(nhs_check_digit(digits[None, :9])[0]) == digits[9])


def upn_check_letter(body: str) -> str:
    """Check letter for the last twelve characters of a Unique Pupil Number."""
    total = 0
    for weight, ch in zip(range(2, 14), body, strict=True):
        total += weight * (int(ch) if ch.isdigit() else _UPN_VALUE[ch])
    return str(_UPN_LETTERS[total % 23])


def upns(
    rng: np.random.Generator, la_code: int, schools: np.ndarray, years: np.ndarray
) -> np.ndarray:
    """One UPN per pupil: check letter, LA code, school number, year issued, serial."""
    serial = rng.permutation(len(schools)) % 1000
    bodies = [
        f"{la_code:03d}{school:04d}{year % 100:02d}{s:03d}"
        for school, year, s in zip(schools, years, serial, strict=True)
    ]
    return np.array([upn_check_letter(b) + b for b in bodies])


def is_valid_upn(value: str) -> bool:
    """True when value is a 13-character UPN whose first letter checks the rest."""
    if len(value) != 13 or not value[1:12].isdigit():
        return False
    if value[12] not in _UPN_VALUE and not value[12].isdigit():
        return False
    return bool(upn_check_letter(value[1:]) == value[0])


def ni_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw n National Insurance numbers in the issued pattern (two letters, six digits, A-D)."""
    first = rng.choice(_NI_FIRST, n)
    second = rng.choice(_NI_SECOND, n)
    # Prefixes never issued: BG, GB, NK, KN, TN, NT, ZZ.
    for _ in range(20):
        pairs = np.char.add(first, second)
        bad = np.isin(pairs, _NI_NEVER)
        if not bad.any():
            break
        second[bad] = rng.choice(_NI_SECOND, int(bad.sum()))
    digits = rng.integers(0, 1_000_000, n)
    suffix = rng.choice(_NI_SUFFIX, n)
    return np.array(
        [f"{a}{b}{d:06d}{s}" for a, b, d, s in zip(first, second, digits, suffix, strict=True)]
    )


def uprns(n: int, start: int = 100_091_000_000) -> np.ndarray:
    """Unique property reference numbers, numbered from a council's range."""
    return np.arange(start, start + n, dtype=np.int64)
