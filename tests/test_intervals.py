"""The Wilson interval is scipy's now: it must equal the closed form this module computed before, to 1e-12."""

from __future__ import annotations

import math

import pytest

from lamm.metrics.intervals import Z95, interval, wilson


def _closed_form(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson (1927): the formula lamm.metrics.intervals used before scipy (main b945e4d)."""
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def test_wilson_scipy_equals_closed_form_on_a_sweep():
    checked = 0
    for n in [*range(1, 60), 97, 100, 250, 1000, 4999, 12345]:
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n} & set(range(n + 1))):
            lo, hi = wilson(k / n, n)
            rlo, rhi = _closed_form(k / n, n)
            assert abs(lo - rlo) < 1e-12 and abs(hi - rhi) < 1e-12, (k, n)
            checked += 1
    assert checked > 300
    # another z is honoured (not silently 1.96)
    lo99, hi99 = wilson(0.5, 40, z=2.5758293035489)
    assert (lo99, hi99) == pytest.approx(_closed_form(0.5, 40, 2.5758293035489), abs=1e-12)
    assert lo99 < wilson(0.5, 40)[0]


def test_wilson_refuses_fractional_successes_and_empty_n():
    with pytest.raises(ValueError, match="whole number"):
        wilson(0.3333, 10)
    with pytest.raises(ValueError, match="positive"):
        wilson(0.5, 0)


def test_interval_of_a_fractional_correct_count_does_not_raise():
    # a results.json entry whose 'correct' is not a whole count is no proportion: no Wilson interval
    entry = {"metric": "acc", "value": 0.25, "score": {"correct": 1.25, "total": 5}}
    assert interval(entry, None) is None
    entry = {"metric": "acc", "value": 0.2, "score": {"correct": 1, "total": 5}}
    assert interval(entry, None) == (*wilson(0.2, 5), "Wilson")
