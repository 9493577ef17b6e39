"""COCO-caption metrics without Java: pycocoevalcap's tokenisation pipeline, BLEU-1..4, ROUGE-L, CIDEr-D.

Reference: pycocoevalcap 1.2 (PyPI; salaniz/pycocoevalcap, the coco-caption code). Its scorers are pure
Python and are reproduced here formula for formula (parity to 1e-6 on the same tokenised strings:
``tests/test_captions.py``); CIDEr-D is :func:`lamm.metrics.cider.cider_d` (the one implementation).

* :func:`ptb_tokenize`: pycocoevalcap runs Stanford CoreNLP 3.4.1's ``PTBTokenizer -preserveLines
  -lowerCase`` and drops the tokens in its ``PUNCTUATIONS`` list. Here: lower-case; a period that ends a
  word and is followed by a space is split off (PTB splits sentence-internal periods, nltk's Treebank
  tokenizer only the last); nltk's Treebank word tokenizer (the PTB conventions: clitics ``n't 's 're``,
  quotes to ````/''``, punctuation split off, hyphenated words kept); the same punctuation tokens dropped
  plus the bracket characters (PTB escapes them to ``-LRB-`` etc., which the list drops). Known
  differences, all rare in captions: abbreviations with a final period (``st.``, ``mr.``) lose it here;
  ``cannot`` is split ``can not`` by nltk; PTB's British-to-American respelling (``americanize``) and its
  Unicode normalisations are not reproduced; ``$ % & # @`` are separate tokens in nltk.
* :func:`bleu`: ``Bleu(4)``: corpus BLEU from clipped n-gram counts summed over the corpus, brevity
  penalty from the summed "closest" reference lengths (ties -> the shorter), smoothing constants
  1e-15 / 1e-9; per-caption scores as pycocoevalcap returns them.
* :func:`rouge_l`: ``Rouge``: LCS F-measure with beta 1.2 from the best precision and best recall over
  the references (tokens = ``split(" ")``, so an empty caption is one empty token); corpus = mean.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

from lamm.metrics.cider import cider_d

PUNCTUATIONS = frozenset(
    {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"}
)  # pycocoevalcap tokenizer/ptbtokenizer.py
_BRACKETS = frozenset("()[]{}")  # PTB escapes these to -LRB- etc. (dropped above)
_INNER_PERIOD = re.compile(r"(?<=\s)([^\s.]+)\.(?=\s)")  # "chair. it" -> "chair . it"; "e.g. " kept
BETA = 1.2


@lru_cache(maxsize=1)
def _treebank():
    from nltk.tokenize.destructive import NLTKWordTokenizer

    return NLTKWordTokenizer()


def ptb_tokenize(text: str) -> str:
    """One caption as pycocoevalcap's tokenizer outputs it: lower-case tokens joined by single spaces."""
    text = _INNER_PERIOD.sub(r"\1 .", " " + text.replace("\n", " ").lower())
    toks = _treebank().tokenize(text)
    return " ".join(t for t in toks if t not in PUNCTUATIONS and t not in _BRACKETS)


# ------------------------------------------------------------------------------------------------ BLEU


def _ngrams(words: list[str], n: int) -> Counter:
    c: Counter = Counter()
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            c[tuple(words[i : i + k])] += 1
    return c


def bleu(
    candidates: list[str], references: list[list[str]], n: int = 4
) -> tuple[list[float], list[list[float]]]:
    """``(corpus BLEU-1..n, per-caption BLEU-1..n lists)`` on tokenised strings (pycocoevalcap ``Bleu``)."""
    _check(candidates, references)
    tiny, small = 1e-15, 1e-9
    tot_guess, tot_correct = [0] * n, [0] * n
    tot_test = tot_ref = 0
    per: list[list[float]] = [[] for _ in range(n)]
    for cand, refs in zip(candidates, references):
        words = cand.split()
        maxref: dict[tuple[str, ...], int] = {}
        lens = []
        for r in refs:
            rw = r.split()
            lens.append(len(rw))
            for ng, c in _ngrams(rw, n).items():
                maxref[ng] = max(maxref.get(ng, 0), c)
        test_len = len(words)
        ref_len = min((abs(ln - test_len), ln) for ln in lens)[1]
        guess = [max(0, test_len - k + 1) for k in range(1, n + 1)]
        correct = [0] * n
        for ng, c in _ngrams(words, n).items():
            correct[len(ng) - 1] += min(maxref.get(ng, 0), c)
        tot_test, tot_ref = tot_test + test_len, tot_ref + ref_len
        score = 1.0
        for k in range(n):
            tot_guess[k] += guess[k]
            tot_correct[k] += correct[k]
            score *= (float(correct[k]) + tiny) / (float(guess[k]) + small)
            per[k].append(score ** (1.0 / (k + 1)))
        ratio = (test_len + tiny) / (ref_len + small)
        if ratio < 1:
            for k in range(n):
                per[k][-1] *= _bp(ratio)
    corpus, score = [], 1.0
    for k in range(n):
        score *= float(tot_correct[k] + tiny) / (tot_guess[k] + small)
        corpus.append(score ** (1.0 / (k + 1)))
    ratio = (tot_test + tiny) / (tot_ref + small)
    if ratio < 1:
        corpus = [b * _bp(ratio) for b in corpus]
    return corpus, per


def _bp(ratio: float) -> float:
    return math.exp(1 - 1 / ratio)


# --------------------------------------------------------------------------------------------- ROUGE-L


def _lcs(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(candidates: list[str], references: list[list[str]]) -> tuple[float, list[float]]:
    """``(mean ROUGE-L, per-caption)`` on tokenised strings (pycocoevalcap ``Rouge``, beta 1.2)."""
    _check(candidates, references)
    per = []
    for cand, refs in zip(candidates, references):
        tc = cand.split(" ")
        prec, rec = [], []
        for r in refs:
            tr = r.split(" ")
            lcs = _lcs(tr, tc)
            prec.append(lcs / float(len(tc)))
            rec.append(lcs / float(len(tr)))
        p, r = max(prec), max(rec)
        per.append((1 + BETA**2) * p * r / float(r + BETA**2 * p) if p != 0 and r != 0 else 0.0)
    return sum(per) / len(per), per


# ----------------------------------------------------------------------------------------------- all


def _check(candidates: list[str], references: list[list[str]]) -> None:
    if len(candidates) != len(references) or not candidates or any(not r for r in references):
        raise ValueError("caption metrics need one non-empty reference list per candidate")


def caption_metrics(
    candidates: list[str], references: list[list[str]], *, tokenize: bool = True
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Corpus and per-caption ``bleu1..bleu4``, ``rouge_l``, ``cider`` in pycocoevalcap's units (0-1, CIDEr
    0-10), after :func:`ptb_tokenize` of candidates and references (``tokenize=False``: already done)."""
    if tokenize:
        candidates = [ptb_tokenize(c) for c in candidates]
        references = [[ptb_tokenize(r) for r in refs] for refs in references]
    b, b_per = bleu(candidates, references)
    r, r_per = rouge_l(candidates, references)
    c, c_per = cider_d(candidates, references, pretokenized=True)
    corpus = {**{f"bleu{k + 1}": b[k] for k in range(4)}, "rouge_l": r, "cider": c}
    per = {**{f"bleu{k + 1}": b_per[k] for k in range(4)}, "rouge_l": r_per, "cider": c_per}
    return corpus, per
