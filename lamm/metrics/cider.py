"""CIDEr-D exactly as pycocoevalcap's ``Cider`` computes it, without its Java tokenizer.

Formula (Vedantam et al. 2015, as implemented in pycocoevalcap ``cider_scorer.py``): n-grams n=1..4,
TF-IDF vectors with document frequency over the reference sets of the whole corpus and
``log(#images)``, per-n cosine with the hypothesis weights clipped by the reference weights
(``min(h, r) * r``), a Gaussian length penalty (sigma 6) on the difference of the *bigram* counts
(pycocoevalcap counts "length" that way), mean over n, mean over references, x10; corpus score = mean.

Tokenisation: pycocoevalcap runs Stanford's PTB tokenizer (Java) and drops punctuation tokens. Here:
lower-case, nltk's Treebank tokenizer, the same punctuation tokens dropped (plus brackets, which PTB
renames to -LRB- etc. and then drops). Scores are in pycocoevalcap's units (not x100).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from functools import lru_cache

N = 4
SIGMA = 6.0
_PUNCT = {"''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";", "(", ")", "[", "]", "{", "}"}


@lru_cache(maxsize=1)
def _tb():
    from nltk.tokenize.destructive import NLTKWordTokenizer

    return NLTKWordTokenizer()


def tokenize(s: str) -> list[str]:
    return [t for t in _tb().tokenize(s.lower()) if t not in _PUNCT]


def _ngrams(words: list[str]) -> Counter:
    c: Counter = Counter()
    for k in range(1, N + 1):
        for i in range(len(words) - k + 1):
            c[tuple(words[i : i + k])] += 1
    return c


def _vec(cnts: Counter, df: dict, log_n: float) -> tuple[list[dict], list[float], int]:
    vec: list[dict] = [defaultdict(float) for _ in range(N)]
    norm = [0.0] * N
    length = 0
    for ng, tf in cnts.items():
        n = len(ng) - 1
        vec[n][ng] = float(tf) * (log_n - math.log(max(1.0, df.get(ng, 0.0))))
        norm[n] += vec[n][ng] ** 2
        if n == 1:
            length += tf
    return vec, [math.sqrt(x) for x in norm], length


def _sim(vh, nh, lh, vr, nr, lr) -> list[float]:
    delta = float(lh - lr)
    val = [0.0] * N
    for n in range(N):
        for ng, _ in vh[n].items():
            val[n] += min(vh[n][ng], vr[n][ng]) * vr[n][ng]
        if nh[n] != 0 and nr[n] != 0:
            val[n] /= nh[n] * nr[n]
        val[n] *= math.e ** (-(delta**2) / (2 * SIGMA**2))
    return val


def cider_d(
    candidates: list[str], references: list[list[str]], *, pretokenized: bool = False
) -> tuple[float, list[float]]:
    """Corpus CIDEr-D and per-item scores of ``candidates[i]`` against ``references[i]``."""
    if len(candidates) != len(references) or not candidates:
        raise ValueError("cider_d needs one non-empty reference list per candidate")
    tok = (lambda s: s.split()) if pretokenized else tokenize
    crefs = [[_ngrams(tok(r)) for r in refs] for refs in references]
    ctest = [_ngrams(tok(c)) for c in candidates]
    df: dict = defaultdict(float)
    for refs in crefs:
        for ng in {ng for r in refs for ng in r}:
            df[ng] += 1
    log_n = math.log(float(len(crefs)))
    scores = []
    for test, refs in zip(ctest, crefs):
        vh, nh, lh = _vec(test, df, log_n)
        acc = [0.0] * N
        for r in refs:
            vr, nr, lr = _vec(r, df, log_n)
            acc = [a + s for a, s in zip(acc, _sim(vh, nh, lh, vr, nr, lr))]
        scores.append(sum(acc) / N / len(refs) * 10.0)
    return sum(scores) / len(scores), scores
