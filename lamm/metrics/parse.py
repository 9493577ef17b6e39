"""Every parse of free model text used by LAMM scoring, in one place.

Each parser reproduces the official LAMM v1/jul23 rule (LAMM_FORMATS §4.1, §4.3), quirks included, and
returns a :class:`Parsed` telling *what* was read, *which rule fired* and *whether parsing failed*, so
every scored sample can say how its answer was understood and per-dataset failure rates can be reported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Parsed", "scan_numbers", "bracket_numbers", "fmt_nums", "parse_numbers", "parse_boxes", "box_segments", "box_labels", "parse_points",
    "parse_boxes3d", "parse_sentence", "parse_count", "ennum2numerical", "match_option",
    "parse_smile", "parse_label", "parse_words", "caption_pieces", "NUMBER_WORDS",
]  # fmt: skip


@dataclass(frozen=True)
class Parsed:
    """A parse result: ``value`` read from the text, the ``rule`` that produced it, ``failed`` if none did."""

    value: Any
    rule: str
    failed: bool = False


# ----------------------------------------------------------------------------------------------- numbers


def _scan_spans(text: str, left: str, right: str) -> list[tuple[float, int, int]]:
    """:func:`scan_numbers` with each number's position: from its first character (from the opening
    bracket for the first token after one) to just past the character that ended it (``]``, ``,``, space)."""
    out: list[tuple[float, int, int]] = []
    inside = False
    buf = ""
    start = 0
    opened = None  # index of a bracket no token has started after yet
    for i, ch in enumerate(text):
        if ch == left:
            inside = True
            opened = i
        elif ch == right:
            inside = False
            try:
                out.append((float(buf), start, i + 1))
                buf = ""
            except ValueError:
                pass
        elif inside:
            if ch == "," or ch == " ":
                try:
                    out.append((float(buf), start, i + 1))
                    buf = ""
                except ValueError:
                    pass
            else:
                if not buf:
                    start = i if opened is None else opened
                opened = None
                buf += ch
    return out


def scan_numbers(text: str, left: str = "[", right: str = "]") -> list[float]:
    """The official bracket-pass number scanner, bug for bug (§4.1).

    Inside ``left``..``right`` a comma or a space ends a token; a closing bracket ends one too. A token is
    kept when Python's ``float`` accepts it. The buffer is *not* cleared when ``float`` fails (``[dog]``
    leaves ``dog`` in it and every later number of the pass glues onto it), and it persists across
    brackets; characters outside brackets are skipped.
    """
    return [v for v, _, _ in _scan_spans(text, left, right)]


def bracket_numbers(text: str) -> list[float]:
    """The ``[``-pass over the whole text, then the ``(``-pass, concatenated in that order."""
    return scan_numbers(text, "[", "]") + scan_numbers(text, "(", ")")


def fmt_nums(values: Sequence[float]) -> str:
    """``[0.12, 0.30, 0.45, 0.62]``: the bracket form every official box/point parser reads (the C4
    templates write it, the trivial baseline answers in it)."""
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


_PLAIN_NUMBER = re.compile(r"[0-9]+\.?[0-9]*")


def _number_spans(text: str, k: int) -> tuple[list[tuple[float, int, int]], str]:
    """The numbers :func:`parse_numbers` reads, each with its (start, end) position in ``text``."""
    nums = _scan_spans(text, "[", "]") + _scan_spans(text, "(", ")")
    nums = nums[: len(nums) // k * k]
    if nums:
        return nums, "brackets"
    nums = [(float(m.group()), m.start(), m.end()) for m in _PLAIN_NUMBER.finditer(text)]
    nums = nums[: len(nums) // k * k]
    return nums, "regex" if nums else "none"


def parse_numbers(text: str, k: int) -> Parsed:
    """Numbers in groups of ``k``: both bracket passes, else the plain-number regex (no signs/exponents).

    Each source is truncated to its longest prefix with a length that is a multiple of ``k``.
    ``value`` is the flat list; rule ``brackets`` | ``regex`` | ``none``.
    """
    nums, rule = _number_spans(text, k)
    if any(not math.isfinite(v) for v, _, _ in nums):  # "[nan, ...]", "1e999": a parse failure, no score
        return Parsed([], "non-finite", True)
    return Parsed([v for v, _, _ in nums], rule, not nums)


def _groups(nums: list[float], k: int) -> list[tuple[float, ...]]:
    return [tuple(nums[i : i + k]) for i in range(0, len(nums), k)]


def _box_keep(x1: float, y1: float, x2: float, y2: float) -> tuple[float, ...] | None:
    if x1 > x2 and y1 > y2:
        x1, y1, x2, y2 = x2, y2, x1, y1
    return (x1, y1, x2, y2) if x1 <= x2 and y1 <= y2 else None


def parse_boxes(text: str) -> Parsed:
    """2D boxes ``(x1, y1, x2, y2)``: corners swapped when *both* axes are inverted, then a box is kept
    only if ``x1 <= x2 and y1 <= y2`` (one inverted axis -> dropped, NaN -> dropped).

    ``failed`` when no box survives; rule ``brackets`` | ``regex`` | ``none`` (+ ``/dropped`` if numbers
    were read but every box was filtered out).
    """
    p = parse_numbers(text, 4)
    boxes = [b for g in _groups(p.value, 4) if (b := _box_keep(*g)) is not None]
    if p.value and not boxes:
        return Parsed(boxes, p.rule + "/dropped", True)
    return Parsed(boxes, p.rule, p.failed)


def box_segments(text: str, dim: int = 2) -> list[str]:
    """The text that names each box of ``parse_boxes(text).value`` (``dim=2``) or
    ``parse_boxes3d(text).value`` (``dim=3``): same order, same length.

    A box's segment is the text between the end of the nearest box written before it (its closing
    bracket; dropped boxes count as boxes here) and its own opening bracket (or first number), e.g.
    ``"circle "`` and ``", square "`` in ``"circle [0.1, 0.2, 0.3, 0.4], square [0.5, 0.5, 0.9, 0.9]"``.
    Positions, not parse order, decide "before": the ``(``-pass boxes come after the ``[``-pass ones in
    parse order but are placed where they are written.
    """
    k = {2: 4, 3: 6}[dim]
    nums, _ = _number_spans(text, k)
    if any(not math.isfinite(v) for v, _, _ in nums):  # parse_numbers reads no box from such a text
        return []
    groups = [nums[i : i + k] for i in range(0, len(nums), k)]
    spans = [(g[0][1], g[-1][2]) for g in groups]
    out = []
    for g, (start, _) in zip(groups, spans):
        if dim == 2 and _box_keep(*(v for v, _, _ in g)) is None:
            continue
        prev = max((e for s, e in spans if e <= start), default=0)
        out.append(text[prev:start])
    return out


def box_labels(text: str, labels: list[str], dim: int = 2) -> list[list[str]]:
    """Per parsed box, the ``labels`` that the official label matcher finds in its :func:`box_segments`
    segment, or, when the segment names none, in the whole text (labels written after the boxes, one
    label for several boxes). For the standard AP metrics; LAMM's own metrics check the whole text."""
    from lamm.metrics.labels import answer_lemmas, label_candidates

    def named(t: str) -> list[str]:
        lemmas = answer_lemmas(t)
        return [lab for lab in labels if any(c in lemmas for c in label_candidates(lab)[0])]

    whole: list[str] | None = None
    out = []
    for seg in box_segments(text, dim):
        found = named(seg)
        if not found:
            whole = named(text) if whole is None else whole
            found = whole
        out.append(found)
    return out


def parse_points(text: str) -> Parsed:
    """2D points ``(x, y)``: groups of 2, no reordering and no filtering."""
    p = parse_numbers(text, 2)
    return Parsed(_groups(p.value, 2), p.rule, p.failed)


def parse_boxes3d(text: str) -> Parsed:
    """3D boxes ``(cx, cy, cz, dx, dy, dz)``: groups of 6, no reordering and no filtering (jul23)."""
    p = parse_numbers(text, 6)
    return Parsed(_groups(p.value, 6), p.rule, p.failed)


# --------------------------------------------------------------------------------------------- sentences


def parse_sentence(text: str) -> str:
    """v1 ``parse_sentence``: with a double quote, the odd-indexed ``"``-pieces joined by spaces."""
    if '"' in text:
        return " ".join(text.split('"')[1::2])
    return text


def parse_words(text: str) -> Parsed:
    """SVT: words of the lower-cased quoted part (or whole text); rule ``quoted`` | ``raw``."""
    rule = "quoted" if '"' in text else "raw"
    words = parse_sentence(text).lower().split()
    return Parsed(words, rule, not words)


def caption_pieces(text: str) -> Parsed:
    """flickr30k candidates: ``parse_sentence(text).split('.')``, each whitespace-split (v1)."""
    rule = "quoted" if '"' in text else "raw"
    pieces = [p.split() for p in parse_sentence(text).split(".")]
    return Parsed(pieces, rule, not any(pieces))


NUMBER_WORDS: dict[str, int] = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
NUMBER_WORDS["no"] = 0


def ennum2numerical(text: str) -> Parsed:
    """v1 ``ennum2numerical``: the first whitespace token that is all digits or a number word 0-20.

    Attached punctuation (``12.``), ranges (``40-50``), ``1,000`` and ``twenty-two`` do not count.
    ``str.isdigit`` also accepts e.g. superscripts, on which the official ``int()`` crashes; here such a
    token is passed over. Rule ``digits`` | ``word`` | ``none``.
    """
    for tok in text.split():
        if tok.isdigit():
            try:
                n = int(tok)
            except ValueError:
                continue
            try:
                float(n)  # the error is computed in floats: a count past float range is no reading
            except OverflowError:
                return Parsed(None, "non-finite", True)
            return Parsed(n, "digits")
        if tok in NUMBER_WORDS:
            return Parsed(NUMBER_WORDS[tok], "word")
    return Parsed(None, "none", True)


def parse_count(text: str) -> Parsed:
    """FSC147 counting: :func:`ennum2numerical` of the lower-cased text (``None`` scores as 0)."""
    return ennum2numerical(text.lower())


# -------------------------------------------------------------------------------------- multiple choice


def _option_patterns(letters: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    cls = f"[{letters[0]}-{letters[-1]}]"
    return (
        re.compile(rf"The answer is \(?{cls}\)?\W|the answer is \(?{cls}\)?\W"),
        re.compile(rf"ANSWER: {cls}"),
        re.compile(rf"\({cls}\)"),
    )


_PATTERNS = {letters: _option_patterns(letters) for letters in ("ABCDE", "ABCDEF")}


def match_option(text: str, gt_choice: int, choices: list[str], letters: str = "ABCDE") -> Parsed:
    """The official multiple-choice matcher (§4.3); ``value`` is True when the answer is judged correct.

    Steps, first that finds something decides: ``answer_is`` (every ``The answer is X`` match must
    contain the gold letter; a following non-word character is required), ``ANSWER:`` (the first match's
    last character), ``paren`` (every ``(X)`` must contain it), then ``text`` (the lower-cased text must
    contain the gold option and no other option, as substrings). ``failed`` when the text step finds no
    option at all. Letters ``ABCDE`` for 2D, ``ABCDEF`` for 3D ScanQA (jul23).
    """
    gt_char = letters[gt_choice] if gt_choice < len(letters) else "\0"
    p1, p2, p3 = _PATTERNS.get(letters) or _option_patterns(letters)
    found = p1.findall(text)
    if found:
        return Parsed(all(gt_char in m for m in found), "answer_is")
    found = p2.findall(text)
    if found:
        return Parsed(found[0][-1] == gt_char, "ANSWER:")
    found = p3.findall(text)
    if found:
        return Parsed(all(gt_char in m for m in found), "paren")
    low = text.lower()
    present = [i for i, c in enumerate(choices) if str(c).lower() in low]
    correct = gt_choice in present and all(i == gt_choice for i in present)
    return Parsed(correct, "text", not present)


# ---------------------------------------------------------------------------------- labels (word level)


def parse_smile(text: str) -> Parsed:
    """CelebA(Smile): ``"-1"`` if ``no``/``not`` is a token of the lower-cased text, else ``"1"`` (v1).

    ``isn't`` tokenises to ``is`` + ``n't`` and so counts as smiling, as officially.
    """
    from lamm.metrics.labels import content_tokens

    low = text.lower()
    if "no" not in low:  # exact shortcut: a "no"/"not" token needs "no" in the text ("cannot" has it)
        return Parsed("1", "default")
    toks = content_tokens(low, drop_stopwords=False)
    if "no" in toks or "not" in toks:
        return Parsed("-1", "negation")
    return Parsed("1", "default")


def parse_label(gt: str, text: str, label_set: tuple[str, ...] | None = None) -> Parsed:
    """The v1 label matcher (``classification_acc``): ``value`` True when ``gt`` is named in ``text``.

    Rule ``wordnet`` (candidates from gt's first synset) or ``literal`` (gt unknown to WordNet).
    ``failed``: the answer names none of the dataset's labels (``label_set``), or without a label set,
    no word of the answer is known to WordNet.
    """
    from lamm.metrics.labels import answer_lemmas, label_candidates

    cands, rule = label_candidates(gt)
    lemmas = answer_lemmas(text)
    hit = any(c in lemmas for c in cands)
    if hit:
        return Parsed(True, rule)
    if label_set is None:
        return Parsed(False, rule, not (lemmas - {None}))
    named = any(c in lemmas for lab in label_set for c in label_candidates(lab)[0])
    return Parsed(False, rule, not named)
