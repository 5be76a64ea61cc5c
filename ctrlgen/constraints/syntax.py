"""Syntax constraints: ``SyntaxTree(tree)`` (the whole constituency parse) and ``SyntaxSpans(spans)``
(given word spans are constituents with given labels).

Spans follow :mod:`ctrlgen.oracles.metrics`: ``(i, j, label)`` names words ``i`` … ``j``, 0-based and
both ends inclusive, punctuation counted; a unary chain is one label joined by ``::`` (``S::VP``). The
check faces parse the text with the constituency-parser oracle (:mod:`ctrlgen.oracles.parser`); the
soft faces use the ``syntax.v1`` span classifier beside the model (``ctrlgen train-classifier tree``; on a discrete
model ``syntax-token.v1``, the same over noisy tokens), which scores every span's label (0 = not a constituent) from
the latents or tokens: per-span cross-entropy over
the whole chart for a tree, over the given cells for spans (as Diffusion-LM).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, ClassVar

from ctrlgen.constraints.base import ConstraintError, as_texts
from ctrlgen.constraints.classifier import ClassifierBacked, ClassifierRef
from ctrlgen.errors import DataError
from ctrlgen.oracles.metrics import (
    _as_tree,
    _walk,
    constituent_spans,
    span_success,
    tree_f1,
)
from ctrlgen.oracles.parser import load_parser
from ctrlgen.text.tokenizer import split_words

PAD_WORD = "."  # a short text is padded with it before parsing against a tree (as Diffusion-LM)


_PARSER: list[Any] = [None]  # the process-wide parser oracle: None = the bundled one (see use_parser)


def use_parser(parser: Any = None) -> None:
    """Choose the parser oracle of the syntax check faces and of the silver trees ``syntax.v1`` trains on:
    a benepar model file, an object with ``parse(word_lists)``, or ``None`` for the bundled parser."""
    _PARSER[0] = parser


def parse_words(sentences: Sequence[Sequence[str]]) -> list[Any]:
    """The parser oracle on word lists → one ``nltk.Tree`` each (raises with a hint when it is missing). The
    bundled parser (and any ``ConstituencyParser``) memoises trees per sentence, so repeated sentences are
    parsed once per process; a custom ``parse`` object is called as is."""
    parser = _PARSER[0]
    if parser is None or isinstance(parser, str | os.PathLike):
        parser = load_parser(parser)
    return parser.parse([list(s) for s in sentences])


@dataclass(frozen=True, repr=False)
class SyntaxTree(ClassifierBacked):
    """The text parses as ``tree`` (an ``nltk.Tree`` or a bracketed string; a ``TOP``/``ROOT`` wrapper
    is ignored). It needs ``leaves + 2 <= seq_len`` positions.

    Check face: the text's words, truncated or padded with ``"."`` to the tree's leaf count, are parsed
    and compared by labelled-bracket F1 counting every word (as Diffusion-LM ran EVALB); ``score`` is
    the F1, ``satisfied`` means F1 = 1.
    """

    tree: str
    classifier: ClassifierRef | None = dc_field(default=None, kw_only=True)  # None: "syntax.v1" beside the model

    default_classifiers: ClassVar[dict[str, str]] = {"embedding": "syntax.v1", "token": "syntax-token.v1"}

    def __post_init__(self) -> None:
        tree = self.tree
        try:
            parsed = _as_tree(tree)
        except DataError as e:
            raise ConstraintError(f"SyntaxTree: {e.message}", e.hint) from None
        if not hasattr(parsed, "leaves"):
            raise ConstraintError(f"SyntaxTree: expected an nltk.Tree or a bracketed string, got {tree!r}",
                                  "e.g. SyntaxTree('(S (NP (DT The) (NN pub)) (VP (VBZ is) (ADJP (JJ cheap))))')")
        n = _walk(parsed, ())[0]
        if n == 0:
            raise ConstraintError("SyntaxTree: the tree has no words", "pass a tree with (TAG word) leaves")
        object.__setattr__(self, "tree", parsed.pformat(margin=1 << 30))

    @property
    def n_words(self) -> int:
        return _walk(self.tree, ())[0]

    @property
    def spans(self) -> list[tuple[int, int, str]]:
        return constituent_spans(self.tree)

    def validate(self, seq_len: int) -> None:
        if self.n_words + 2 > seq_len:
            raise ConstraintError(f"SyntaxTree: the tree has {self.n_words} leaves, more than seq_len - 2 = "
                                  f"{seq_len - 2} words fit", "use a shorter tree or a model with a longer seq_len")

    def classifier_target(self) -> Any:
        return {"n_words": self.n_words, "spans": self.spans}

    @staticmethod
    def parse_words(sentences: Sequence[Sequence[str]]) -> list[Any]:
        """The oracle: parse word lists (one ``nltk.Tree`` per list), as the check face uses it."""
        return parse_words(sentences)

    @property
    def word_labels(self) -> tuple[str, ...]:
        """The tree's preterminal (PTB) tags, one per leaf (:class:`~ctrlgen.constraints.WordLabelled`: the edit
        backend rewrites toward them; the same tags give the parser most of the tree)."""
        return tuple(tag for _, tag in _as_tree(self.tree).pos())

    @staticmethod
    def label_words(sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """The parser oracle's PTB tags of word lists in context, one per word."""
        return [[tag for _, tag in tree.pos()] for tree in parse_words(sentences)]

    def score(self, texts: Sequence[str]) -> list[float]:
        n = self.n_words
        sents = [(split_words(t) + [PAD_WORD] * n)[:n] for t in as_texts(texts)]
        return [tree_f1(p, self.tree, punct_tags=()) for p in parse_words(sents)]

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        return [s == 1.0 for s in self.score(texts)]

    def judge(self, texts: Sequence[str]) -> tuple[list[bool], list[float]]:
        """Parses each text once: ``satisfied`` is F1 = 1."""
        scores = self.score(texts)
        return [s == 1.0 for s in scores], scores

    def __repr__(self) -> str:
        return f"SyntaxTree({self.tree!r})"


def _parse_span(s: Any) -> tuple[int, int, str]:
    if isinstance(s, str):
        m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*:\s*(\S+)\s*", s)
        if not m:
            raise ConstraintError(f"SyntaxSpans: cannot read span {s!r}", "write i:j:LABEL, e.g. '3:5:PP'")
        return int(m.group(1)), int(m.group(2)), m.group(3)
    try:
        i, j, label = s
    except (TypeError, ValueError):
        raise ConstraintError(f"SyntaxSpans: a span is (i, j, label), got {s!r}", "e.g. (3, 5, 'PP')") from None
    if isinstance(i, bool) or isinstance(j, bool) or not isinstance(i, int) or not isinstance(j, int):
        raise ConstraintError(f"SyntaxSpans: span ends must be ints, got {s!r}", "e.g. (3, 5, 'PP')")
    return i, j, str(label)


@dataclass(frozen=True, repr=False)
class SyntaxSpans(ClassifierBacked):
    """Words ``i`` … ``j`` form a constituent labelled ``label``, for each ``(i, j, label)`` in ``spans``
    (tuples, or strings ``"i:j:LABEL"``; 0-based, inclusive; ``S::VP`` for a unary chain).

    Check face: the text is parsed as is; ``score`` is the share of spans that are constituents with
    exactly that chain (Diffusion-LM's scoring), ``satisfied`` means all are.
    """

    spans: tuple[tuple[int, int, str], ...]
    classifier: ClassifierRef | None = dc_field(default=None, kw_only=True)  # None: "syntax.v1" beside the model

    default_classifiers: ClassVar[dict[str, str]] = {"embedding": "syntax.v1", "token": "syntax-token.v1"}

    def __post_init__(self) -> None:
        spans = self.spans
        if isinstance(spans, str) or (isinstance(spans, tuple) and len(spans) == 3 and isinstance(spans[0], int)):
            spans = [s for s in spans.split(",")] if isinstance(spans, str) else [spans]
        parsed = tuple(_parse_span(s) for s in spans)
        if not parsed:
            raise ConstraintError("SyntaxSpans: no spans given", "e.g. SyntaxSpans([(3, 5, 'PP')])")
        for i, j, label in parsed:
            if not 0 <= i <= j or not label:
                raise ConstraintError(f"SyntaxSpans: bad span {(i, j, label)}",
                                      "i and j are 0-based word indices with i <= j, both inclusive; label non-empty")
        for a, (i, j, _) in enumerate(parsed):
            for k, m, _ in parsed[a + 1:]:
                if i < k <= j < m or k < i <= m < j:
                    raise ConstraintError(f"SyntaxSpans: spans {i}:{j} and {k}:{m} cross, so no tree has both",
                                          "constituents nest or are disjoint: e.g. 0:3 with 1:2 or 4:6, not 1:5")
        object.__setattr__(self, "spans", parsed)

    def validate(self, seq_len: int) -> None:
        last = max(j for _, j, _ in self.spans)
        if last + 3 > seq_len:
            raise ConstraintError(f"SyntaxSpans: span end {last} (word {last + 1}) does not fit seq_len {seq_len}",
                                  f"word indices go up to {seq_len - 3} ([START] and [END] take two positions)")

    def classifier_target(self) -> Any:
        return {"n_words": None, "spans": list(self.spans)}

    def score(self, texts: Sequence[str]) -> list[float]:
        trees = parse_words([split_words(t) for t in as_texts(texts)])
        return [sum(span_success(tr, i, j, lab, exact_chain=True) for i, j, lab in self.spans) / len(self.spans)
                for tr in trees]

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        return [s == 1.0 for s in self.score(texts)]

    def judge(self, texts: Sequence[str]) -> tuple[list[bool], list[float]]:
        """Parses each text once: ``satisfied`` means every span is a constituent."""
        scores = self.score(texts)
        return [s == 1.0 for s in scores], scores

    def __repr__(self) -> str:
        return f"SyntaxSpans({[f'{i}:{j}:{lab}' for i, j, lab in self.spans]!r})"

