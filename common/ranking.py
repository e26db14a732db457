"""One rule for who goes first among persons with the same score, for every stage.

A capacity cut (the top N persons a night) falls inside a group of persons tied on the
probability shown more often than not: the calibrator is a step function, so hundreds
share a step. Ties are broken by the model's raw score (log-odds, higher first), then by
`pseudonym`, a hash of the person id: stable across runs and machines, and unrelated to
when a person's records were made, so no group is favoured by the order of its ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


def pseudonym(person_id: str) -> int:
    """A stable 64-bit number for a person id (the last tie-break: lower goes first)."""
    return int.from_bytes(hashlib.blake2b(person_id.encode(), digest_size=8).digest(), "big")


def top(capacity: int, score: np.ndarray, raw: np.ndarray, person_id: Sequence[str]) -> np.ndarray:
    """Which persons the top `capacity` are: by score, then raw score, then `pseudonym`.

    Only the persons at or above the cut's score are hashed, so the cost stays that of
    a partial sort on millions of persons.

    Returns:
        A boolean mask like `score`.

    Examples:
        >>> top(1, np.array([0.5, 0.5]), np.array([1.0, 2.0]), ["a", "b"]).tolist()
        [False, True]
    """
    score = np.asarray(score, dtype=float)
    chosen = np.zeros(len(score), dtype=bool)
    if capacity <= 0 or not len(score):
        return chosen
    if capacity >= len(score):
        chosen[:] = True
        return chosen
    cut = -np.partition(-score, capacity - 1)[capacity - 1]
    near = np.flatnonzero(score >= cut)
    ids = np.array([pseudonym(str(person_id[int(i)])) for i in near], dtype=np.uint64)
    order = np.lexsort((ids, -np.asarray(raw, dtype=float)[near], -score[near]))
    chosen[near[order[:capacity]]] = True
    return chosen
