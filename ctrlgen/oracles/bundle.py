"""The oracles an evaluation run needs, loaded once and up front (before any sampling).

:class:`Oracles` holds the POS tagger, the constituency parser, the teacher LM and the bigram
reference of the fluency proxy. Anything left ``None`` is loaded by :meth:`Oracles.require` from the
defaults: the spaCy UPOS oracle (:mod:`.pos`), the parser oracle of ``ctrlgen.oracles.parser``
(benepar ``ChartParser`` trained on the treebank sample, bundled), the teacher ``e2e-teacher-1``.
Tests inject fakes: ``Oracles(tagger=fake_tag, parser=FakeParser())`` where ``tagger`` maps word lists
to tag lists and ``parser.parse`` maps word lists to ``nltk.Tree`` objects.

A second parser (``second_parser``; :meth:`Oracles.require_second_parser` loads the bundled
``SECOND_PARSER``, trained on another split) judges the same texts independently:
``spec.score(targets, texts, oracles.with_second_parser())`` gives the tree and spans scores by it, to report
beside the first's (``recipes/control_long.py --second-parser``).

A missing package raises :class:`MissingOracleError` (or the oracle's own not-found error), whose hint
says what to install — before a single sample is drawn.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ctrlgen.errors import CtrlgenError
from ctrlgen.oracles.fluency import BigramReference
from ctrlgen.oracles.parser import SECOND_PARSER, load_parser
from ctrlgen.oracles.pos import POSTagger
from ctrlgen.oracles.teacher import Teacher

log = logging.getLogger(__name__)

DEFAULT_TEACHER = "e2e-teacher-1"
#: The oracle names a task can need (see ``Task.needs``).
ORACLES = ("tagger", "parser", "infill-metrics")


class MissingOracleError(CtrlgenError):
    """An oracle (tagger, parser, metric package) a task needs is not installed."""

    default_hint = "pip install ctrlgen's evaluation dependencies (see docs/metrics.md)"


class Parser(Protocol):
    """The parser oracle's interface: word lists in, one ``nltk.Tree`` per list out."""

    def parse(self, sentences: Sequence[Sequence[str]]) -> list[Any]: ...


Tagger = Callable[[list[list[str]]], Sequence[Sequence[str]]]


def load_parser_oracle(path: str | None = None) -> Parser:
    """The parser oracle (``path``: a benepar model file; ``None``: the bundled one), or an install hint."""
    try:
        return load_parser(path)  # benepar is imported here, not at start-up
    except ImportError as e:
        raise MissingOracleError(
            f"the tree and spans tasks need the constituency parser oracle, which cannot be loaded ({e})",
            hint="pip install benepar (the parser oracle ctrlgen.oracles.parser runs benepar's ChartParser "
                 "with the bundled model assets/parser-ptb-sample); or evaluate another task") from e


def _name(parser: Parser) -> str:
    """What results record for a parser: its ``name`` (the model's folder), else its class name."""
    return str(getattr(parser, "name", type(parser).__name__))


def _check_infill_metrics() -> None:
    missing = [pkg for mod, pkg in (("sacrebleu", "sacrebleu"), ("rouge_score", "rouge-score"))
               if importlib.util.find_spec(mod) is None]
    if missing:
        raise MissingOracleError(f"the infill task needs {', '.join(missing)} (BLEU-4 / ROUGE-L), not installed",
                                 hint=f"pip install {' '.join(missing)}")


@dataclass
class Oracles:
    """Oracles shared by every method of a run; ``None`` fields are loaded on :meth:`require`.

    ``teacher_name``: bundled name or directory of the teacher LM (``None``: no lm-score).
    ``bigrams``: training references of the fluency proxy (``None``: the proxy is not reported).
    ``second_parser``: an independent parser oracle, used only through :meth:`with_second_parser`.
    """

    tagger: Tagger | None = None
    parser: Parser | None = None
    teacher: Teacher | None = None
    bigrams: BigramReference | None = None
    teacher_name: str | None = DEFAULT_TEACHER
    names: dict[str, str] = field(default_factory=dict)  # what was used, recorded in the JSON
    second_parser: Parser | None = None

    def require_second_parser(self, path: str | None = None) -> None:
        """Load the second parser now (``path``: a benepar model file; ``None``: the bundled ``SECOND_PARSER``)."""
        if self.second_parser is None:
            self.second_parser = load_parser_oracle(str(path or SECOND_PARSER))
        self.names.setdefault("parser2", _name(self.second_parser))

    def with_second_parser(self) -> Oracles:
        """A view of these oracles whose ``parser`` is the second one (the rest shared): a task scored through it
        is judged by the second parser. Raises when no second parser is loaded."""
        if self.second_parser is None:
            raise CtrlgenError("no second parser loaded", hint="call require_second_parser() first")
        names = {**self.names, "parser": self.names.get("parser2", _name(self.second_parser))}
        return dataclasses.replace(self, parser=self.second_parser, second_parser=None, names=names)

    def require(self, needs: Collection[str]) -> None:
        """Load every oracle in ``needs`` (and the teacher) now; raise with an install hint if one is missing."""
        unknown = set(needs) - set(ORACLES)
        if unknown:
            raise CtrlgenError(f"unknown oracle(s) {sorted(unknown)}", hint=f"oracles are {', '.join(ORACLES)}")
        if "tagger" in needs and self.tagger is None:
            tagger = POSTagger()  # raises POSModelNotFoundError with an install hint
            self.tagger, self.names["tagger"] = tagger.tag_words, f"spaCy {tagger.name}"
        if "tagger" in needs:
            self.names.setdefault("tagger", getattr(self.tagger, "__qualname__", "injected"))
        if "parser" in needs and self.parser is None:
            self.parser = load_parser_oracle()
        if "parser" in needs:
            self.names.setdefault("parser", _name(self.parser))
        if "infill-metrics" in needs:
            _check_infill_metrics()
            self.names["infill"] = "sacrebleu BLEU-4 (13a), rouge-score ROUGE-L F"
        if self.teacher is None and self.teacher_name is not None:
            self.teacher = Teacher.load(self.teacher_name)
        if self.teacher is not None:
            self.names["teacher"] = f"{self.teacher.name} (sha256 {self.teacher.fingerprint[:12]})"

    def tag(self, sentences: list[list[str]]) -> list[list[str]]:
        """UPOS tags of each word list (empty lists get no tags, without calling the tagger)."""
        if self.tagger is None:
            self.require(["tagger"])
        assert self.tagger is not None
        todo = [k for k, s in enumerate(sentences) if s]
        tags: list[list[str]] = [[] for _ in sentences]
        for k, t in zip(todo, self.tagger([sentences[k] for k in todo]), strict=True):
            tags[k] = list(t)
        return tags

    def parse(self, sentences: list[list[str]]) -> list[Any]:
        """One tree per non-empty word list (``None`` for an empty one)."""
        if self.parser is None:
            self.require(["parser"])
        assert self.parser is not None
        todo = [k for k, s in enumerate(sentences) if s]
        trees: list[Any] = [None] * len(sentences)
        for k, t in zip(todo, self.parser.parse([sentences[k] for k in todo]), strict=True):
            trees[k] = t
        return trees
