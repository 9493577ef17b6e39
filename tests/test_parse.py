"""Every free-text parse rule of LAMM scoring, with hand-computed values and the official quirks."""

from __future__ import annotations

import math

import pytest

from lamm.metrics import parse as P


def test_scanner_reads_brackets_commas_spaces():
    assert P.scan_numbers("box [0.1, 0.2,0.3 0.4] end") == [0.1, 0.2, 0.3, 0.4]
    assert P.scan_numbers("(1, 2)", "(", ")") == [1.0, 2.0]
    assert P.scan_numbers("outside 5 [6]") == [6.0]


def test_scanner_buffer_glue_quirk():
    # "[dog]" leaves "dog" in the buffer; every later number of this pass glues onto it and is lost
    assert P.scan_numbers("[dog] [0.1, 0.2]") == []
    # ... but the (-pass has its own buffer
    assert P.bracket_numbers("[dog] [0.1, 0.2] (0.3, 0.4)") == [0.3, 0.4]
    # the buffer persists across brackets: "[1" + "2]" -> "12"
    assert P.scan_numbers("[1x] y [2]") == []
    assert P.scan_numbers("[1] [2") == [1.0]  # unclosed bracket: "2" never terminated


def test_scanner_accepts_what_float_accepts():
    assert P.scan_numbers("[-1, 1e3, 1_0]") == [-1.0, 1000.0, 10.0]
    vals = P.scan_numbers("[inf, nan]")
    assert vals[0] == math.inf and math.isnan(vals[1])


def test_bracket_pass_order():
    assert P.bracket_numbers("(5, 6) [1, 2]") == [1.0, 2.0, 5.0, 6.0]


def test_parse_numbers_truncates_and_falls_back_to_regex():
    assert P.parse_numbers("[1, 2, 3, 4, 5]", 4) == P.Parsed([1.0, 2.0, 3.0, 4.0], "brackets")
    # fewer than 4 bracket numbers -> regex over the whole text (no signs)
    p = P.parse_numbers("[1, 2] at -3 and 4.5 then 6.", 4)
    assert p == P.Parsed([1.0, 2.0, 3.0, 4.5], "regex")
    assert P.parse_numbers("no numbers", 2) == P.Parsed([], "none", True)


def test_boxes_swap_both_axes_drop_one_axis():
    p = P.parse_boxes("[0.5, 0.6, 0.1, 0.2]")
    assert p.value == [(0.1, 0.2, 0.5, 0.6)] and p.rule == "brackets" and not p.failed
    p = P.parse_boxes("[0.5, 0.1, 0.1, 0.2]")  # only x inverted -> dropped
    assert p.value == [] and p.failed and p.rule == "brackets/dropped"
    p = P.parse_boxes("[0.1, 0.1, 0.2, 0.2] [0.3, 0.9, 0.4, 0.8]")
    assert p.value == [(0.1, 0.1, 0.2, 0.2)]
    assert P.parse_boxes("[0.1,0.1,0.1,0.1]").value == [(0.1, 0.1, 0.1, 0.1)]  # degenerate kept


def test_points_and_3d_boxes():
    assert P.parse_points("[0.1, 0.2] and (0.3, 0.4)").value == [(0.1, 0.2), (0.3, 0.4)]
    assert P.parse_points("[0.5, 0.4, 0.3]").value == [(0.5, 0.4)]
    p = P.parse_boxes3d("[1, 2, 3, -1, -2, -3] [9, 9]")
    assert p.value == [(1.0, 2.0, 3.0, -1.0, -2.0, -3.0)] and p.rule == "brackets"
    p = P.parse_boxes3d("center 1 2 3 size 4 5 6")
    assert p.value == [(1.0, 2.0, 3.0, 4.0, 5.0, 6.0)] and p.rule == "regex"


def test_parse_sentence_and_words():
    assert P.parse_sentence('The word is "EXIT" and "open" here') == "EXIT open"
    assert P.parse_sentence("no quotes") == "no quotes"
    assert P.parse_words('It reads "Exit,"').value == ["exit,"]
    assert P.parse_words("").failed


def test_caption_pieces():
    p = P.caption_pieces("A dog runs. It is brown.")
    assert p.value == [["A", "dog", "runs"], ["It", "is", "brown"], []]
    assert P.caption_pieces("...").failed


@pytest.mark.parametrize(
    "text,val,rule",
    [
        ("there are 12 apples", 12, "digits"),
        ("there are twelve apples", 12, "word"),
        ("no apples, 3 pears", 0, "word"),
        ("there are 12.", None, "none"),  # attached punctuation is not read
        ("40-50 birds", None, "none"),
        ("1,000 or twenty-two", None, "none"),
        ("² then 7", 7, "digits"),  # isdigit but not int(): passed over
    ],
)
def test_ennum2numerical(text, val, rule):
    p = P.ennum2numerical(text)
    assert (p.value, p.rule, p.failed) == (val, rule, val is None)


def test_parse_count_lowercases():
    assert P.parse_count("Twelve").value == 12


OPTS = ["cat", "dog", "sun", "sunflower"]


@pytest.mark.parametrize(
    "text,gt,ok,rule,failed",
    [
        ("so The answer is (B).", 1, True, "answer_is", False),
        ("The answer is (B)", 1, True, "answer_is", False),  # backtracking: ")" is the \W
        ("The answer is B", 1, False, "text", True),  # at the end: no match, falls to text, no option
        ("The answer is B.", 1, True, "answer_is", False),
        ("the answer is b.", 1, False, "text", True),  # lower-case letter: no P1 match
        ("The answer is A. the answer is B.", 1, False, "answer_is", False),  # every match must hold gt
        ("ANSWER: B and ANSWER: C", 1, True, "ANSWER:", False),  # first match decides
        ("maybe (B) or (C)", 1, False, "paren", False),
        ("I pick (B)", 1, True, "paren", False),
        ("it is a dog", 1, True, "text", False),
        ("a Dog and a cat", 1, False, "text", False),
        ("sunflower", 3, False, "text", False),  # "sun" is a substring: the longer one is unwinnable
        ("sun", 2, True, "text", False),
    ],
)
def test_match_option(text, gt, ok, rule, failed):
    assert P.match_option(text, gt, OPTS) == P.Parsed(ok, rule, failed)


def test_match_option_letters_af():
    six = ["a", "b", "c", "d", "e", "f"]
    assert P.match_option("The answer is F.", 5, six, "ABCDEF") == P.Parsed(True, "answer_is")
    # with A-E patterns an F answer is not seen by the letter steps
    assert P.match_option("The answer is F.", 5, six, "ABCDE").rule == "text"


def test_parse_smile_quirks():
    assert P.parse_smile("No, the person is not smiling.").value == "-1"
    assert P.parse_smile("no.").value == "-1"
    assert P.parse_smile("Yes, smiling.") == P.Parsed("1", "default")
    assert P.parse_smile("He isn't smiling.").value == "1"  # is + n't: counts as smiling
    assert P.parse_smile("she said 'no'").value == "1"  # nltk 3.8.1 keeps 'no as one token


def test_parse_label_rules():
    assert P.parse_label("automobile", "It is a car.") == P.Parsed(True, "wordnet")
    assert P.parse_label("horse", "Two horses.") == P.Parsed(True, "wordnet")
    assert P.parse_label("diningtable", "a diningtable") == P.Parsed(False, "literal", True)
    assert P.parse_label("cat", "It is a dog.") == P.Parsed(False, "wordnet", False)
    assert P.parse_label("cat", "qwzx blorf") == P.Parsed(False, "wordnet", True)


def test_parse_label_failure_against_the_label_set():
    labels = ("cat", "dog", "automobile")
    assert P.parse_label("cat", "It is a dog.", labels) == P.Parsed(False, "wordnet", False)
    assert P.parse_label("cat", "Sorry, I cannot tell.", labels) == P.Parsed(False, "wordnet", True)
    assert P.parse_label("automobile", "a motorcar", labels) == P.Parsed(True, "wordnet")


def test_box_segments_name_each_box():
    text = "The objects are: circle [0.1, 0.2, 0.3, 0.4], square [0.5, 0.5, 0.9, 0.9]."
    assert P.box_segments(text) == ["The objects are: circle ", ", square "]
    # a dropped box (one inverted axis) still ends the next box's segment; a swapped box is kept
    text = "a [0.5, 0.1, 0.1, 0.5] b [0.9, 0.9, 0.5, 0.5] c"
    assert P.parse_boxes(text).value == [(0.5, 0.5, 0.9, 0.9)] and P.box_segments(text) == [" b "]
    # (-pass boxes come after [-pass boxes in parse order but take the text written before them
    text = "x (0, 0, 1, 1) y [0.1, 0.1, 0.2, 0.2] z"
    assert P.parse_boxes(text).value == [(0.1, 0.1, 0.2, 0.2), (0, 0, 1, 1)]
    assert P.box_segments(text) == [" y ", "x "]
    # the plain-number regex: segments between the matched numbers; two boxes in one bracket
    assert P.box_segments("dog 0.1 0.1 0.5 0.5 cat 0.6 0.6 0.9 0.9") == ["dog ", " cat "]
    assert P.box_segments("[1 2 3 4 5 6 7 8]") == ["", ""]
    assert P.box_segments("no boxes") == []
    # 3D: groups of 6, nothing dropped
    assert P.box_segments("chair [0, 0, 0, 1, 1, 1] table [9 9 9 -1 1 1]", dim=3) == ["chair ", " table "]
