"""The official v1 label matcher (``classification_acc``) on nltk 3.8.1, with no pickle loaded.

The official scorer calls ``nltk.word_tokenize`` (Punkt English model from a pickle, then nltk's
improved Treebank tokenizer), the 179-word English stop list and WordNet 3.0 (``synsets``/``morphy``).
Here the Punkt tokenizer is built in memory from the text parameters shipped in
``lamm/protocol/nltk_data`` (the same numbers as the official ``english.pickle``), the stop list is read
from its text file, and WordNet 3.0 is opened with nltk's own reader from wherever the user has it.
"""

from __future__ import annotations

import os
import re
import string
import warnings
from collections import defaultdict
from functools import cache, lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "protocol" / "nltk_data"
PUNKT_DIR = DATA / "tokenizers" / "punkt_tab" / "english"
STOPWORDS_FILE = DATA / "corpora" / "stopwords" / "english"
LEXNAMES_FILE = DATA / "corpora" / "wordnet" / "lexnames"

WORDNET_HELP = (
    "WordNet 3.0 not found; the LAMM label matcher needs it. Get it with one of:\n"
    "  sudo apt-get install wordnet-base            (Debian/Ubuntu; files in /usr/share/wordnet)\n"
    "  export NLTK_DATA=/path/to/nltk_data          (a folder holding corpora/wordnet/data.noun ...)\n"
    "  python -c \"import nltk; nltk.download('wordnet')\"   (on a machine that is online)\n"
    "or point LAMM_WORDNET at a folder holding the WordNet 3.0 database files (data.noun, index.noun, ...)."
)


class WordNetMissing(RuntimeError):
    """No WordNet database could be found; the message says how to get one."""


def _read_lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text(encoding="utf-8").split("\n") if ln]


@lru_cache(maxsize=1)
def _punkt():
    """nltk's PunktSentenceTokenizer from the official English parameters (as the pickle holds them)."""
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    p = PunktParameters()
    p.abbrev_types = set(_read_lines(PUNKT_DIR / "abbrev_types.txt"))
    p.sent_starters = set(_read_lines(PUNKT_DIR / "sent_starters.txt"))
    p.collocations = {tuple(ln.split("\t")) for ln in _read_lines(PUNKT_DIR / "collocations.tab")}
    p.ortho_context = defaultdict(
        int, {k: int(v) for k, v in (ln.split("\t") for ln in _read_lines(PUNKT_DIR / "ortho_context.tab"))}
    )
    return PunktSentenceTokenizer(p)


@lru_cache(maxsize=1)
def _treebank():
    from nltk.tokenize.destructive import NLTKWordTokenizer

    return NLTKWordTokenizer()


_SIMPLE = re.compile(r"[a-z0-9 ,]*\.?")
_SPLIT_WORDS = {"cannot": ["can", "not"], "gimme": ["gim", "me"], "gonna": ["gon", "na"],
                "gotta": ["got", "ta"], "lemme": ["lem", "me"], "wanna": ["wan", "na"]}  # fmt: skip


def _simple_tokens(text: str) -> list[str] | None:
    """Exact shortcut for plain lower-case text (letters, digits, spaces, ", ", one final "."): Punkt
    sees one sentence and the Treebank rules reduce to a split, the comma and the final period split off
    and its whole-word contractions (cannot -> can not, ...). None when the text is not that simple."""
    if not _SIMPLE.fullmatch(text) or "," in text.replace(", ", ""):
        return None
    end = text.endswith(".")
    out: list[str] = []
    for w in (text[:-1] if end else text).replace(",", " , ").split():
        out += _SPLIT_WORDS.get(w, [w])
    return [*out, "."] if end else out


def word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize(text)`` of nltk 3.8.1: Punkt sentences, then the improved Treebank tokenizer."""
    fast = _simple_tokens(text)
    if fast is not None:
        return fast
    tb = _treebank()
    return [tok for sent in _punkt().tokenize(text) for tok in tb.tokenize(sent)]


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """NLTK's English stop list (179 words, the 2018-2023 edition the official environment had)."""
    return frozenset(_read_lines(STOPWORDS_FILE))


# ------------------------------------------------------------------------------------------------ WordNet


def _has_db(d: Path) -> bool:
    return (d / "data.noun").is_file() and (d / "index.noun").is_file()


def find_wordnet_dir() -> Path | None:
    """First WordNet database folder among: $LAMM_WORDNET, $NLTK_DATA/corpora/wordnet,
    /usr/share/wordnet (Debian wordnet-base), nltk's default data paths (unzipped)."""
    cands: list[Path] = []
    if os.environ.get("LAMM_WORDNET"):
        cands.append(Path(os.environ["LAMM_WORDNET"]))
    for root in filter(None, os.environ.get("NLTK_DATA", "").split(os.pathsep)):
        cands.append(Path(root) / "corpora" / "wordnet")
    cands.append(Path("/usr/share/wordnet"))
    try:
        import nltk.data

        cands += [Path(p) / "corpora" / "wordnet" for p in nltk.data.path]
    except ImportError:  # pragma: no cover - nltk is a dependency
        pass
    for d in cands:
        if _has_db(d):
            return d
    return None


def _reader_class():
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class Reader(WordNetCorpusReader):
        """nltk's reader; ``lexnames`` (absent from Debian's package) comes from our data if missing."""

        def open(self, file):  # noqa: A003 - nltk's method name
            if file == "lexnames" and not (Path(self._root.path) / "lexnames").is_file():
                return open(LEXNAMES_FILE, encoding="utf-8")  # noqa: SIM115 - nltk closes it
            return super().open(file)

    return Reader


@lru_cache(maxsize=1)
def wordnet():
    """nltk 3.8.1's WordNetCorpusReader over WordNet 3.0; :class:`WordNetMissing` says how to get it."""
    from nltk.data import FileSystemPathPointer

    d = find_wordnet_dir()
    if d is None:
        # a zipped nltk download (corpora/wordnet.zip) is found by nltk itself
        try:
            from nltk.corpus import wordnet as wn

            wn.ensure_loaded()
            return wn
        except LookupError:
            raise WordNetMissing(WORDNET_HELP) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        return _reader_class()(FileSystemPathPointer(str(d)), None)


def wordnet_info() -> dict[str, str]:
    """Where WordNet came from and its version, recorded in score results."""
    wn = wordnet()
    root = getattr(wn, "_root", None)
    return {"wordnet_dir": str(getattr(root, "path", root)), "wordnet_version": wn.get_version()}


@cache
def morphy(token: str) -> str | None:
    """``wordnet.morphy(token)`` with no POS (nltk 3.8.1: repeated suffix stripping)."""
    return wordnet().morphy(token)


@cache
def label_candidates(gt: str) -> tuple[tuple[str, ...], str]:
    """Lemma names of gt's *first* synset (all POS, WordNet order), or ``(gt,)`` if it has none."""
    syns = wordnet().synsets(gt)
    if syns:
        return tuple(syns[0].lemma_names()), "wordnet"
    return (gt,), "literal"


# -------------------------------------------------------------------------------------------- the matcher


def content_tokens(text: str, *, drop_stopwords: bool = True) -> list[str]:
    """word_tokenize(text) minus tokens that are substrings of ``string.punctuation`` (and stop words)."""
    stop = stopwords() if drop_stopwords else frozenset()
    return [t for t in word_tokenize(text) if t not in string.punctuation and t not in stop]


@lru_cache(maxsize=65536)
def answer_lemmas(text: str) -> frozenset[str | None]:
    """Step 1 of ``classification_acc``: morphy of every content token of the lower-cased text
    (unknown words become ``None``, as officially)."""
    return frozenset(morphy(t) for t in content_tokens(text.lower()))


def classification_acc(gt: str, text: str) -> bool:
    """The official v1 matcher: some lemma name of gt's first synset equals some morphed answer token."""
    cands, _ = label_candidates(gt)
    lemmas = answer_lemmas(text)
    return any(c in lemmas for c in cands)
