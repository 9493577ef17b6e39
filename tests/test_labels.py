"""The official v1 label matcher on nltk 3.8.1 + WordNet 3.0, built without any pickle."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lamm.metrics import labels as L


def test_nltk_self_checks():
    assert L.wordnet().synsets("automobile")[0].lemma_names() == [
        "car", "auto", "automobile", "machine", "motorcar",
    ]  # fmt: skip
    assert len(L.stopwords()) == 179 and "not" in L.stopwords() and "no" in L.stopwords()
    assert L.word_tokenize("he said 'no'.") == ["he", "said", "'no", "'", "."]
    assert L.wordnet_info()["wordnet_version"] == "3.0"


def test_tokenizer_sentence_split_and_contractions():
    assert L.word_tokenize("Mr. Smith isn't here. It's a dog!") == [
        "Mr.", "Smith", "is", "n't", "here", ".", "It", "'s", "a", "dog", "!",
    ]  # fmt: skip
    # nltk 3.8.1 keeps a leading apostrophe on the word (3.9 splits it off)
    assert L.word_tokenize("'ship' here") == ["'ship", "'", "here"]


def test_content_tokens_drop_punctuation_substrings_and_stopwords():
    # "..." is not a substring of string.punctuation, so it stays; "." and "(" go
    assert L.content_tokens("the cat (a dog)... yes.") == ["cat", "dog", "...", "yes"]
    assert L.content_tokens("not a cat", drop_stopwords=False) == ["not", "a", "cat"]


def test_morphy_repeated_suffix_stripping():
    assert L.morphy("horses") == "horse"
    assert L.morphy("catss") == "cat"  # nltk 3.8.1 strips again; >= 3.9 returns None
    assert L.morphy("qwzx") is None


def test_label_candidates_first_synset_only():
    assert L.label_candidates("aeroplane") == (("airplane", "aeroplane", "plane"), "wordnet")
    assert L.label_candidates("dog")[0] == ("dog", "domestic_dog", "Canis_familiaris")
    assert L.label_candidates("pottedplant") == (("pottedplant",), "literal")


@pytest.mark.parametrize(
    "gt,text,ok",
    [
        ("automobile", "This is a motorcar.", True),
        ("aeroplane", "A plane in the sky.", True),
        ("frog", "It looks like a toad.", True),
        ("horse", "Several horses are grazing.", True),
        ("person", "A man is walking.", False),  # person != man
        ("diningtable", "a diningtable", False),  # unknown to WordNet: its own token morphs to None
        ("ship", "It is a 'ship'.", False),  # "'ship" morphs to None under nltk 3.8.1
        ("cat", "It is not a dog", False),
        ("cat", "CAT!", True),
    ],
)
def test_classification_acc(gt, text, ok):
    assert L.classification_acc(gt, text) is ok


def test_missing_wordnet_error_says_how(tmp_path):
    code = (
        "import nltk.data, sys\n"
        "nltk.data.path[:] = []\n"
        "from lamm.metrics import labels as L\n"
        "L.find_wordnet_dir = lambda: None\n"
        "try:\n    L.wordnet()\nexcept L.WordNetMissing as e:\n    print(e); sys.exit(3)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"NLTK_DATA": ""})
    assert r.returncode == 3, r.stderr
    assert "apt-get install wordnet-base" in r.stdout and "NLTK_DATA" in r.stdout


def test_wordnet_from_nltk_data_dir_without_lexnames(tmp_path, monkeypatch):
    """A WordNet folder lacking lexnames (like Debian's) works; NLTK_DATA takes precedence."""
    src = L.find_wordnet_dir()
    wn_dir = tmp_path / "corpora" / "wordnet"
    wn_dir.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file() and f.name != "lexnames":
            (wn_dir / f.name).symlink_to(f)
    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    monkeypatch.delenv("LAMM_WORDNET", raising=False)
    assert L.find_wordnet_dir() == wn_dir


def test_simple_text_shortcut_equals_full_tokenizer():
    import random

    def full(t):
        return [tok for s in L._punkt().tokenize(t) for tok in L._treebank().tokenize(s)]

    vocab = "a the cat dog cannot gonna wanna gimme gotta lemme can not no 12 0 etc mr x , ,, . 1,000".split(
        " "
    )
    rng = random.Random(0)
    checked = 0
    for _ in range(3000):
        t = "".join(
            rng.choice(vocab) + rng.choice(["", " ", " ", ", ", "  ", ","]) for _ in range(rng.randint(0, 9))
        )
        t += "." if rng.random() < 0.5 else ""
        fast = L._simple_tokens(t)
        if fast is not None:
            checked += 1
            assert fast == full(t), t
    assert checked > 500
    assert L._simple_tokens("i cannot see a cat, really.") == [
        "i",
        "can",
        "not",
        "see",
        "a",
        "cat",
        ",",
        "really",
        ".",
    ]
    assert L._simple_tokens("a cat. a dog.") is None and L._simple_tokens("It is") is None
