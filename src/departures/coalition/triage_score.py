"""Scoring replies offline: an English classifier plus the coalition's word lists.

Nothing leaves the server. The classifier is HateSonar's model (a TF-IDF and logistic
regression over English tweets labelled hate speech / offensive / neither), shipped as an
ONNX file **inside the hatesonar wheel**; it is loaded from the installed package with
onnxruntime, never downloaded. Its text normaliser asks for the ``en_US.UTF-8`` locale by
default, which minimal machines lack (onnxruntime then refuses the model): the model is
loaded through ``onnx`` and told to use ``C.UTF-8`` (the tokeniser only keeps ASCII letters
and digits, so the locale changes nothing in the scores).

The word lists cover what the English model cannot: Dutch and French to start, one term or
phrase a line, maintained by the coordinator; ``*`` at the end of a term matches any ending
(``kanker*``). Matching ignores case and accents. A reply's score is the larger of the
model's (the probability that it is hate speech or offensive) and the word lists' (a hit
scores :data:`WORD_HIT_SCORE`, two or more hits more); both, and why, are kept.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from departures.i18n import _

__all__ = [
    "DEFAULT_WORDS",
    "WORD_HIT_SCORE",
    "Classifier",
    "Score",
    "Scorer",
    "WordLists",
    "default_words",
    "reason_text",
]

#: A reply with one word-list hit scores this much (percent); each further hit adds 10.
WORD_HIT_SCORE = 70
#: The languages whose word lists ship with departures (the coalition edits its own copy).
DEFAULT_WORDS = ("nl", "fr", "en")
_TOKEN = re.compile(r"\w+", re.UNICODE)


def _fold(text: str) -> str:
    """Lower case without accents (é → e), so lists need one spelling."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@cache
def default_words(lang: str) -> str:
    """The word list of ``lang`` that ships with departures ("" when there is none)."""
    try:
        ref = resources.files("departures.coalition") / "data" / f"triage_words_{lang}.txt"
        return ref.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return ""


@dataclass(frozen=True)
class _Term:
    words: tuple[str, ...]
    prefix: bool  # the last word matches any ending
    source: str  # "nl: klootzak"


class WordLists:
    """Compiled word lists: ``{lang: text}``, one term or phrase a line (``#`` comments)."""

    def __init__(self, lists: Mapping[str, str]) -> None:
        self.terms: dict[str, list[_Term]] = {}
        self.size = 0
        for lang, text in lists.items():
            for line in text.splitlines():
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                prefix = line.endswith("*")
                words = tuple(_TOKEN.findall(_fold(line.rstrip("*"))))
                if not words:
                    continue
                # Index by the first word (its first 3 characters for a prefix term).
                head = words[0] if not (prefix and len(words) == 1) else words[0][:3]
                self.terms.setdefault(head, []).append(_Term(words, prefix, f"{lang}: {line}"))
                self.size += 1

    def hits(self, text: str) -> list[str]:
        """The terms found in ``text`` (each once), as ``lang: term``."""
        tokens = _TOKEN.findall(_fold(text))
        found: dict[str, None] = {}
        for i, token in enumerate(tokens):
            for head in (token, token[:3]):
                for term in self.terms.get(head, ()):
                    if self._matches(term, tokens, i):
                        found.setdefault(term.source)
        return list(found)

    @staticmethod
    def _matches(term: _Term, tokens: list[str], i: int) -> bool:
        n = len(term.words)
        window = tokens[i : i + n]
        if len(window) < n:
            return False
        if term.prefix:
            return window[:-1] == list(term.words[:-1]) and window[-1].startswith(term.words[-1])
        return window == list(term.words)


def _model_file() -> Path:
    import hatesonar

    return Path(hatesonar.__file__).parent / "model" / "model.onnx"


class Classifier:
    """HateSonar's English model from its wheel, run by onnxruntime (see the module doc)."""

    def __init__(self, model_file: Path | None = None, threads: int = 1) -> None:
        import onnx
        import onnxruntime

        model = onnx.load(str(model_file or _model_file()))
        for node in model.graph.node:
            if node.op_type == "StringNormalizer":
                kept = [a for a in node.attribute if a.name != "locale"]
                del node.attribute[:]
                node.attribute.extend(kept)
                node.attribute.append(onnx.helper.make_attribute("locale", "C.UTF-8"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()

    def offensive(self, texts: Sequence[str]) -> list[float]:
        """For each text, the probability that it is hate speech or offensive (0-1)."""
        if not texts:
            return []
        import numpy

        batch = numpy.array(list(texts), dtype=object)
        with self._lock:
            _labels, probabilities = self._session.run(None, {"text": batch})
        # probabilities: one {0: hate, 1: offensive, 2: neither} mapping per text.
        return [float(1.0 - row[2]) for row in probabilities]


@cache
def shared_classifier() -> Classifier:
    """One classifier per process (loading it takes a moment)."""
    return Classifier()


@dataclass(frozen=True)
class Score:
    """A text's score (percent), the model's part, and why."""

    score: int
    model_score: int
    reasons: tuple[str, ...]


class Scorer:
    """Scores texts with the classifier and the word lists."""

    def __init__(self, words: WordLists, classifier: Classifier | None = None) -> None:
        self.words = words
        self.classifier = classifier or shared_classifier()

    def score(self, texts: Sequence[str]) -> list[Score]:
        """The score of each text (one batch through the model)."""
        model = self.classifier.offensive(texts)
        out: list[Score] = []
        for text, probability in zip(texts, model, strict=True):
            model_score = round(probability * 100)
            hits = self.words.hits(text)
            word_score = min(100, WORD_HIT_SCORE + 10 * (len(hits) - 1)) if hits else 0
            # Stored as written here, in English; shown through reason_text() in the
            # reader's language.
            reasons: list[str] = [f"model: {model_score}% hate speech or offensive (English)"]
            reasons.extend(f"word list {hit}" for hit in hits)
            out.append(Score(max(model_score, word_score), model_score, tuple(reasons)))
        return out


_MODEL_REASON = re.compile(r"model: (\d+)% hate speech or offensive \(English\)")
_WORD_REASON = re.compile(r"word list (.+)")


def reason_text(reason: str) -> str:
    """A stored reason (as :meth:`Scorer.score` writes it) in the reader's language; one
    written some other way is shown as it is."""
    model = _MODEL_REASON.fullmatch(reason)
    if model:
        return _("model: %(percent)d%% hate speech or offensive (English)") % {
            "percent": int(model.group(1))
        }
    word = _WORD_REASON.fullmatch(reason)
    if word:
        # Translators: the term is "lang: word", as the coalition's word list has it.
        return _("word list %(term)s") % {"term": word.group(1)}
    return reason


def word_lists_with_defaults(stored: Mapping[str, str]) -> dict[str, str]:
    """The coalition's lists; a language it never edited gets the shipped default."""
    lists: dict[str, Any] = {lang: default_words(lang) for lang in DEFAULT_WORDS}
    lists.update(stored)
    return lists
