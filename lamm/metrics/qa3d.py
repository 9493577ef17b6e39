"""Open-ended 3D QA scoring as LEO reports it: ScanQA EM / refined EM (+ caption metrics), SQA3D EM.

Reference: embodied-generalist/embodied-generalist (LEO), commit 567f2d809cf8b21289d7fb9d3b616ae9c405cba3:
``data/data_utils.py`` ``clean_answer`` (the answer cleaning, applied to the prediction and to every gt
answer), ``evaluator/scanqa_eval.py`` ``answer_match`` (EM and refined EM) and ``record`` (CIDEr, BLEU-4,
METEOR, ROUGE-L of the *cleaned* answers with pycocoevalcap's scorers, no PTB tokenizer),
``evaluator/sqa3d_eval.py`` (the same cleaning and matching, EM also per question type).

``answer_match`` quirks kept: the gt answers are tried in order and the first one that matches either
way decides (a later exact match does not upgrade an earlier relaxed one); relaxed = one side with its
spaces removed is a substring of the other side with its spaces removed, so an empty (cleaned) prediction
is a relaxed match of anything. METEOR is not computed (Java).

Record fields: ``answers`` (list of gt answer strings; ScanQA's own key) or ``answer`` (one string, SQA3D);
SQA3D's optional ``question_type`` (0-5, LEO's ``sqa_type``) gives per-type EM. The answer text is the
model's free text, used whole after ``str.strip()``: LEO strips every generation before its evaluator
sees it (``model/leo_agent.py``, ``output_txt = [txt.strip() for txt in output_txt]``, commit 5e9a876),
while ``clean_answer`` only trims spaces, so the ``\n`` a LAMM-style generation keeps before ``###``
would otherwise make every exact match fail.
"""

from __future__ import annotations

import re
from typing import Any

from lamm.metrics.captions import caption_metrics
from lamm.metrics.metrics2d import Context, Item, Outcome, _div, sample
from lamm.metrics.parse import Parsed

_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty"
).split()
# (pattern, replacement) in LEO's order; 'ç' and '’' are removed by the character filter before their own
# rules run (dead rules upstream, kept in place so the order is theirs)
_CLEAN: list[tuple[str, str]] = [
    (r"[ ]+$", ""),
    (r"^[ ]+", ""),
    (r" {2,}", " "),
    (r"\.[ ]{2,}", ". "),
    (r"[^a-zA-Z0-9,'\s\-:]+", ""),
    ("ç", "c"),
    ("’", "'"),
    (r"\bletf\b", "left"),
    (r"\blet\b", "left"),
    (r"\btehre\b", "there"),
    (r"\brigth\b", "right"),
    (r"\brght\b", "right"),
    (r"\bbehine\b", "behind"),
    (r"\btv\b", "TV"),
    (r"\bchai\b", "chair"),
    (r"\bwasing\b", "washing"),
    (r"\bwaslked\b", "walked"),
    (r"\boclock\b", "o'clock"),
    (r"\bo'[ ]+clock\b", "o'clock"),
    (r"\b0\b", "zero"),
    (r"\bnone\b", "zero"),
    *[(rf"\b{i}\b", w) for i, w in enumerate(_NUMBERS) if i],
    (r"\b23\b", "twenty-three"),
    (r"\b([a-zA-Z]+)([0-9])\b", r"\g<1>"),
    (r"\ba\b ([a-zA-Z]+)", r"\g<1>"),
    (r"\ban\b ([a-zA-Z]+)", r"\g<1>"),
    (r"\bthe\b ([a-zA-Z]+)", r"\g<1>"),
    (r"\bbackwards\b", "backward"),
]
_CLEAN_RE = [(re.compile(p), r) for p, r in _CLEAN]


def clean_answer(text: str) -> str:
    """LEO's ``clean_answer``: lower-case, strip, drop odd characters, fix typos, digits to words
    (0-20, 23; "none" -> "zero"), drop a digit glued to a word and the articles a/an/the."""
    text = text.lower()
    for pat, rep in _CLEAN_RE:
        text = pat.sub(rep, text)
    return text


def answer_match(pred: str, gts: list[str]) -> tuple[int, int]:
    """``(EM, refined EM)`` of a cleaned prediction against cleaned gt answers (LEO ``answer_match``)."""
    for gt in gts:
        if pred == gt:
            return 1, 1
        p, g = "".join(pred.split()), "".join(gt.split())
        if p in g or g in p:
            return 0, 1
    return 0, 0


def gt_answers(rec: dict[str, Any]) -> list[str]:
    """The record's gt answers: ``answers`` (list) or ``answer`` (one string)."""
    ans = rec["answers"] if "answers" in rec else [rec["answer"]]
    if isinstance(ans, str):
        ans = [ans]
    if not ans or not all(isinstance(a, str) for a in ans):
        raise ValueError(f"record {rec.get('question_id', rec.get('id', '?'))}: answers must be strings")
    return list(ans)


def _em_rows(items: list[Item]) -> tuple[list[dict[str, Any]], list[str], list[list[str]]]:
    rows, preds, gts = [], [], []
    for it in items:
        pred = clean_answer(str(it.text).strip())  # LEO strips generations first
        refs = [clean_answer(a) for a in gt_answers(it.rec)]
        em, refined = answer_match(pred, refs)
        rows.append(sample(it, float(em), Parsed(pred, "clean_answer", not pred), refined=float(refined)))
        preds.append(pred)
        gts.append(refs)
    return rows, preds, gts


def scanqa_em(items: list[Item], ctx: Context) -> Outcome:
    """ScanQA open-ended: EM (headline, fraction) and refined EM; CIDEr, BLEU-1..4, ROUGE-L (x100) of the
    cleaned answers, scored as LEO does (pycocoevalcap's scorers on the cleaned strings, no tokenizer)."""
    rows, preds, gts = _em_rows(items)
    extra: dict[str, Any] = {"em_refined": _div(sum(r["refined"] for r in rows), ctx.n_meta)}
    if items:
        corpus, _ = caption_metrics(preds, gts, tokenize=False)
        extra.update({k: 100.0 * v for k, v in corpus.items()})
    return Outcome("em", _div(sum(r["score"] for r in rows), ctx.n_meta), rows, extra)


def sqa3d_em(items: list[Item], ctx: Context) -> Outcome:
    """SQA3D: EM (headline, fraction) after LEO's cleaning, refined EM, and EM per ``question_type``."""
    rows, _, _ = _em_rows(items)
    extra: dict[str, Any] = {"em_refined": _div(sum(r["refined"] for r in rows), ctx.n_meta)}
    types = sorted({it.rec["question_type"] for it in items if "question_type" in it.rec})
    for t in types:
        sel = [r for it, r in zip(items, rows) if it.rec.get("question_type") == t]
        extra[f"em_type{t}"] = _div(sum(r["score"] for r in sel), len(sel))
    return Outcome("em", _div(sum(r["score"] for r in rows), ctx.n_meta), rows, extra)
