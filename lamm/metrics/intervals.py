"""95% confidence intervals for per-dataset scores, so a report says which differences are noise.

* Proportions (accuracy, acc@IoU, recall@0.5, the locating metric): the **Wilson score interval**
  (correct for small n and for scores near 0 or 1, where the normal interval leaves [0, 1]).
* Means of per-record scores that are not 0/1 (FSC147 MAE, SVT word accuracy, PCK): the **normal
  interval** mean ± 1.96 · s / √n over the per-record scores (s: the sample standard deviation).
* Corpus-level metrics (BLEU-4, CIDEr, mAP) are not a mean over records: no interval (``None``).

The interval is over the records of the benchmark file (sampling error); it says nothing about seeds.
"""

from __future__ import annotations

import math
from typing import Any

Z95 = 1.959964
WILSON = "Wilson"
CORPUS_METRICS = frozenset({"bleu4", "cider", "map@0.25", "map@0.5"})  # not a mean over records
NORMAL = "normal"


def wilson(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed on ``n`` trials (``p * n`` successes).

    Computed by scipy (``binomtest(k, n).proportion_ci(method="wilson")``); the confidence level is the one
    whose two-sided normal quantile is ``z``, so the default 1.959964 gives the interval this module always
    reported (equal to the textbook formula to 1e-12: ``tests/test_intervals.py``)."""
    from scipy.special import ndtr  # here, not at import: scipy.stats costs ~0.8 s of every CLI start
    from scipy.stats import binomtest

    if n <= 0:
        raise ValueError("n must be positive")
    k = round(p * n)
    if abs(k - p * n) > 1e-6 or not 0 <= k <= n:
        raise ValueError(f"p * n = {p * n} is not a whole number of successes out of {n}")
    ci = binomtest(k, n).proportion_ci(confidence_level=2 * float(ndtr(z)) - 1, method="wilson")
    return max(0.0, float(ci.low)), min(1.0, float(ci.high))


def normal_mean(values: list[float], z: float = Z95) -> tuple[float, float]:
    """mean ± z · s / √n (s with n - 1); a single value gives a zero-width interval."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = sum(values) / n
    if n == 1:
        return mean, mean
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean - z * sd / math.sqrt(n), mean + z * sd / math.sqrt(n)


def interval(entry: dict[str, Any], samples: list[dict[str, Any]] | None) -> tuple[float, float, str] | None:
    """``(low, high, method)`` in the metric's own units for a dataset entry of ``results.json`` (its
    ``value`` and ``score``) and its per-record ``samples`` (``scores/<dataset>.json``)."""
    value = entry.get("value")
    if value is None or entry.get("metric") in CORPUS_METRICS:
        return None
    score = entry.get("score") or entry
    correct = score.get("correct")
    if isinstance(correct, (int, float)) and float(correct).is_integer() and score.get("total"):
        total = int(score["total"])
        if abs(correct / total - value) < 1e-9:
            return (*wilson(value, total), WILSON)
    scores = [s["score"] for s in samples or [] if isinstance(s.get("score"), (int, float))]
    if not scores or abs(sum(scores) / len(scores) - value) > 1e-9:
        return None  # a corpus-level metric, or one divided by something else than the scored records
    if all(s in (0, 1) for s in scores):
        return (*wilson(value, len(scores)), WILSON)
    return (*normal_mean(scores), NORMAL)
