"""Normalisers used when partner extracts are standardised, as Polars expression functions.

Each function takes a ``pl.Expr`` for one text column and returns a ``pl.Expr`` with the same
output name, so the work runs vectorised inside Polars over millions of rows. Values that cannot
be put in canonical form become null; a caller finds the failures as rows whose input was not
blank but whose output is null.

Eager ``select`` and ``with_columns`` do not eliminate common subexpressions, so an expression
that used an intermediate result in several places would compute it once per use. Where a
normaliser needs an intermediate more than once, it is computed once into a struct field and
read back with ``pl.field``.
"""

from __future__ import annotations

import datetime

import polars as pl

__all__ = [
    "blank_to_null",
    "clean_name",
    "nhs_number",
    "nhs_number_is_valid",
    "ni_number",
    "parse_date",
    "phone",
    "postal_code",
    "postcode",
    "postcode_is_valid",
    "sex",
    "upn",
]

# Letters that NFKD leaves whole because they are letters in their own right, not accented
# ones, yet the same name turns up written with and without them, so matching folds them.
_FOLD_LETTERS = {
    "Ł": "L",
    "ł": "L",
    "Ø": "O",
    "ø": "O",
    "ß": "SS",
    "ẞ": "SS",
    "Đ": "D",
    "đ": "D",
    "Æ": "AE",
    "æ": "AE",
    "Œ": "OE",
    "œ": "OE",
    "Þ": "TH",
    "þ": "TH",
}
# Typographic apostrophes and backticks stand in for the plain one in many extracts.
_APOSTROPHES_AND_STOPS = r"['‘’ʼ`.]"
# Hyphens and the other dashes separate parts of a name just as a space does.
_SEPARATORS = r"[\p{Pd},\s]+"

_POSTCODE = r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$"

# The UPN check alphabet leaves out I, O and S.
_UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN_VALUE: dict[str, int] = {c: i for i, c in enumerate(_UPN_ALPHABET)} | {
    str(d): d for d in range(10)
}
_UPN_LETTER: dict[int, str] = dict(enumerate(_UPN_ALPHABET))
_UPN_SHAPE = r"^[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]$"

# NI prefixes: D, F, I, Q, U and V are never used; O is not used as the second letter.
_NI_SHAPE = r"^[A-CEGHJ-PRSTW-Z][A-CEGHJ-NPRSTW-Z][0-9]{6}[A-D]$"
_NI_UNUSED_PREFIXES = ["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"]

# The None key keeps null as null; replace_strict would otherwise give it the default.
_SEX_CODES: dict[str | None, str | None] = {
    "M": "M",
    "MALE": "M",
    "1": "M",
    "F": "F",
    "FEMALE": "F",
    "2": "F",
    None: None,
}


def _named_like(result: pl.Expr, source: pl.Expr) -> pl.Expr:
    # A result read out of a struct field takes the field's name; give it the input's instead.
    name = source.meta.output_name(raise_if_undetermined=False)
    return result if name is None else result.alias(name)


def blank_to_null(expr: pl.Expr) -> pl.Expr:
    """Trim surrounding whitespace and turn the empty string into null."""
    return expr.str.strip_chars().replace("", None)


def _strip_marks(expr: pl.Expr) -> pl.Expr:
    return expr.str.normalize("NFKD").str.replace_all(r"\p{M}+", "")


def clean_name(expr: pl.Expr) -> pl.Expr:
    """Fold a name to the plain upper-case form used for matching; empty → null.

    Accents are dropped (Zoë → ZOE), a few letters that are not accented forms are folded
    (Ł → L, Ø → O, ß → SS, also Đ, Æ, Œ, Þ), apostrophes and full stops go (O'Brien → OBRIEN),
    and hyphens, dashes, commas and whitespace runs become one space.
    """
    # Marks go before upper-casing: some lower-case letters (ǰ) have no precomposed capital and
    # would upper-case to a letter plus a combining mark. Checked over every code point, the
    # upper-cased result then has no marks and NFKD leaves it alone, so one pass is idempotent.
    folded = _strip_marks(expr).str.replace_many(_FOLD_LETTERS).str.to_uppercase()
    spaced = folded.str.replace_all(_APOSTROPHES_AND_STOPS, "").str.replace_all(_SEPARATORS, " ")
    return blank_to_null(spaced)


def _compact_postcode(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_uppercase().str.replace_all(r"\s+", "")


def postcode(expr: pl.Expr) -> pl.Expr:
    """Canonical UK postcode ("ju34ab" → "JU3 4AB"), or null when it is not one."""
    # extract gives null where the pattern fails; the inward code is always the last three
    # characters, so the space goes before them.
    return (
        _compact_postcode(expr)
        .str.extract(f"({_POSTCODE})", 1)
        .str.replace(r"([0-9][A-Z]{2})$", " ${1}")
    )


# Postal codes of other countries, compacted: the pattern a code must fit, its canonical
# form captured.
POSTAL_CODES: dict[str, str] = {
    "us": r"^([0-9]{5})(?:-?[0-9]{4})?$",  # ZIP or ZIP+4; ZIP+4 is kept to its ZIP
    "au": r"^([0-9]{4})$",
    "ie": r"^([AC-FHKNPRTV-Y][0-9]{2}[AC-FHKNPRTV-Y0-9]{4})$",  # Eircode
    "any": r"^([A-Z0-9-]{2,12})$",  # any code of letters and digits, compacted
}


def postal_code(expr: pl.Expr, country: str) -> pl.Expr:
    """A postal code in its country's canonical form, or null when it is not one.

    `uk` is `postcode`; the others (`POSTAL_CODES`) are upper-cased, spaces taken out,
    and kept where they fit their country's pattern ("98101-1234" → "98101" for `us`).
    """
    if country == "uk":
        return postcode(expr)
    return _compact_postcode(expr).str.extract(POSTAL_CODES[country], 1)


def postcode_is_valid(expr: pl.Expr) -> pl.Expr:
    """Whether the value is a UK postcode in any case or spacing; null for null or blank."""
    return blank_to_null(_compact_postcode(expr)).str.contains(_POSTCODE)


def parse_date(expr: pl.Expr, fmt: str, not_after: datetime.date | None = None) -> pl.Expr:
    """Parse text to ``pl.Date`` with a strftime-style format; blank or unparseable → null.

    Callers pass text: a column that already holds dates needs no parsing.

    Month names match in any case, so "%d-%b-%Y" reads "03-APR-1992". With a two-digit-year
    format (``%y``) and ``not_after`` given, the century is the one that puts the date on or
    before ``not_after`` and less than 100 years before it, so a date of birth "01.02.30" read
    with ``not_after=date(2026, 11, 1)`` is 1930-02-01. A 29 February that the chosen century
    lacks (1900) is null. Without ``not_after``, two-digit years 69-99 are 1969-1999 and 00-68
    are 2000-2068. ``not_after`` does not restrict formats with four-digit years.
    """
    parsed = blank_to_null(expr).str.to_date(fmt, strict=False)
    if not_after is None or "%y" not in fmt.replace("%%", ""):
        return parsed
    last_year = not_after.year
    # The latest year ending in the parsed two digits that is not after not_after's year;
    # adding 100 first keeps the modulus on non-negative numbers.
    latest_year = last_year - (last_year + 100 - pl.field("date").dt.year() % 100) % 100
    too_late = (pl.field("year") == last_year) & (
        pl.field("month_day") > not_after.strftime("%m-%d")
    )
    rebuilt = pl.concat_str(
        [pl.field("year").cast(pl.String).str.zfill(4), pl.field("month_day")], separator="-"
    )
    result = (
        pl.struct(date=parsed)
        .struct.with_fields(year=latest_year, month_day=pl.field("date").dt.strftime("%m-%d"))
        .struct.with_fields(
            year=pl.when(too_late).then(pl.field("year") - 100).otherwise(pl.field("year"))
        )
        # Rebuilt through text, which makes a 29 February that the century lacks null.
        .struct.with_fields(
            out=pl.when(pl.field("year") >= 1).then(rebuilt.str.to_date("%Y-%m-%d", strict=False))
        )
        .struct.field("out")
    )
    return _named_like(result, expr)


def _nhs_number_checked(expr: pl.Expr) -> pl.Expr:
    # Struct with the compacted number and whether it is valid.
    number = pl.field("number")
    digits = [number.str.slice(i, 1).cast(pl.Int64, strict=False) for i in range(10)]
    # (11 - total mod 11) mod 11 is the check digit with 11 already folded to 0; a check of 10
    # never equals a digit, so those numbers fail here as they should.
    check = (11 - pl.sum_horizontal([d * (10 - i) for i, d in enumerate(digits[:9])]) % 11) % 11
    compact = blank_to_null(expr.str.replace_all(r"[\s-]+", ""))
    return pl.struct(number=compact).struct.with_fields(
        valid=number.str.contains(r"^[0-9]{10}$") & (check == digits[9])
    )


def nhs_number_is_valid(expr: pl.Expr) -> pl.Expr:
    """Whether the value is a valid NHS number once spaces and hyphens go; blank → null."""
    return _named_like(_nhs_number_checked(expr).struct.field("valid"), expr)


def nhs_number(expr: pl.Expr) -> pl.Expr:
    """NHS number as ten digits with a correct modulus-11 check digit, or null.

    Spaces and hyphens are removed first. The check digit is 11 - (sum of digit * weight mod 11)
    with weights 10 down to 2 on the first nine digits, 11 counting as 0 and 10 as invalid.
    """
    checked = _nhs_number_checked(expr).struct.with_fields(
        out=pl.when(pl.field("valid")).then(pl.field("number"))
    )
    return _named_like(checked.struct.field("out"), expr)


def _compact_if(expr: pl.Expr, valid: pl.Expr) -> pl.Expr:
    """The value upper-cased without spaces where `valid` (over field "number") holds, else null.

    The struct holds the compacted value once, so `valid` reads it without recomputing it.
    """
    compact = expr.str.to_uppercase().str.replace_all(r"\s+", "")
    return (
        pl.struct(number=compact)
        .struct.with_fields(out=pl.when(valid).then(pl.field("number")))
        .struct.field("out")
    )


def ni_number(expr: pl.Expr) -> pl.Expr:
    """National Insurance number in canonical form ("AB123456C", no spaces), or null."""
    number = pl.field("number")
    valid = number.str.contains(_NI_SHAPE) & ~number.str.slice(0, 2).is_in(_NI_UNUSED_PREFIXES)
    return _named_like(_compact_if(expr, valid), expr)


def upn(expr: pl.Expr) -> pl.Expr:
    """Unique Pupil Number whose first letter checks the other twelve characters, or null.

    Spaces are removed and letters upper-cased first. Characters 2 to 13 are weighted 2 to 13;
    a digit counts as itself and a letter as its place in ABCDEFGHJKLMNPQRTUVWXYZ (A = 0); the
    total modulo 23 picks the check letter from that alphabet.
    """
    number = pl.field("number")
    values = [
        number.str.slice(i, 1).replace_strict(_UPN_VALUE, default=None, return_dtype=pl.Int64)
        * (i + 1)
        for i in range(1, 13)
    ]
    expected = (pl.sum_horizontal(values) % 23).replace_strict(
        _UPN_LETTER, default=None, return_dtype=pl.String
    )
    valid = number.str.contains(_UPN_SHAPE) & (number.str.slice(0, 1) == expected)
    return _named_like(_compact_if(expr, valid), expr)


def phone(expr: pl.Expr) -> pl.Expr:
    """UK phone number in E.164 form ("020 7946 0018" → "+442079460018"), or null.

    Accepted: "+44…", "0044…", "44…" when twelve digits long, and national "0…". A "(0)" after
    the country code is dropped. The national significant number must then be nine or ten
    digits not starting with 0. Numbers in other countries are null.
    """
    digits = pl.field("digits")
    # A plus before the first digit, wherever punctuation or a label puts it ("Tel: +44 …").
    plus = pl.field("raw").str.contains(r"^[^0-9]*\+")
    national = (
        pl.when(plus & digits.str.starts_with("44"))
        .then(digits.str.slice(2).str.strip_prefix("0"))
        .when(~plus & digits.str.starts_with("0044"))
        .then(digits.str.slice(4).str.strip_prefix("0"))
        .when(~plus & digits.str.starts_with("44") & (digits.str.len_chars() == 12))
        .then(digits.str.slice(2).str.strip_prefix("0"))
        .when(~plus & digits.str.starts_with("0"))
        .then(digits.str.slice(1))
    )
    result = (
        pl.struct(raw=expr)
        .struct.with_fields(digits=pl.field("raw").str.replace_all(r"[^0-9]+", ""))
        .struct.with_fields(national=national)
        .struct.with_fields(
            out=pl.when(pl.field("national").str.contains(r"^[1-9][0-9]{8,9}$")).then(
                pl.concat_str([pl.lit("+44"), pl.field("national")])
            )
        )
        .struct.field("out")
    )
    return _named_like(result, expr)


def sex(expr: pl.Expr) -> pl.Expr:
    """Sex as "M" (M, MALE, 1), "F" (F, FEMALE, 2) or "U" (anything else); blank → null."""
    return blank_to_null(expr).str.to_uppercase().replace_strict(_SEX_CODES, default="U")
