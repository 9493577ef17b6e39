"""Random draws that work the same with a ``numpy.random.Generator`` and a ``random.Random``: LAMM-Mini
passes the one, ``lamm data build`` the other, and the same rng state must give the same conversation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def pick(rng: Any, seq: Sequence[Any]) -> Any:
    """One element of ``seq``; works with numpy Generators and ``random.Random``."""
    if hasattr(rng, "integers"):
        return seq[int(rng.integers(len(seq)))]
    return seq[rng.randrange(len(seq))]


def randint(rng: Any, lo: int, hi: int) -> int:
    """Integer in [lo, hi] inclusive."""
    if hasattr(rng, "integers"):
        return int(rng.integers(lo, hi + 1))
    return rng.randint(lo, hi)


def sample(rng: Any, seq: Sequence[Any], k: int) -> list[Any]:
    """k distinct elements of ``seq`` in random order."""
    idx = list(range(len(seq)))
    out = []
    for _ in range(k):
        out.append(seq[idx.pop(randint(rng, 0, len(idx) - 1))])
    return out
