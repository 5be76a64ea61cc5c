"""Known words at known positions: ``Infill`` templates, ``Prefix``, ``Suffix`` and ``FixedTokens``.

A *template* is text with holes: ``[MASK]`` is one free token, ``[MASK:k]`` is ``k`` free tokens; the
rest is split into words with the tokenizer's rules (:func:`ctrlgen.text.split_words`). In
``"The Vaults is a [MASK:3] pub near [MASK] ."`` the words sit at positions 1–4, 8, 9 and 11
(``[START]`` is position 0), the holes are 5–7 and 10, and ``Infill`` puts ``[END]`` at 12.

**Out-of-vocabulary words** are refused by default: the hard face raises
:class:`~ctrlgen.constraints.OutOfVocabularyError` naming the words (and close vocabulary words), because
a model that cannot write a word would otherwise silently produce ``[UNK]``. With ``allow_unk=True``
they are fixed to ``[UNK]`` with a logged warning, and the :class:`HardSpec` keeps the original words
(``unk_words``) so a pipeline can write them back into the decoded text. The check face always
compares against the words as written in the constraint.

**On a subword (BPE) model** (:mod:`ctrlgen.constraints.base`, "Words on a subword model") the template still means
words: each maximal run of template words is encoded as subwords exactly as written (byte level: any character;
whitespace between words becomes one space; a run after a hole keeps the space, or its absence, that the template
has there), a hole of ``k`` words gets ``k`` whole-word subwords by default, with word-boundary bans that keep it
at ``k`` words (:mod:`ctrlgen.core.subword_layout`; :func:`ctrlgen.core.placement.place_layouts`), and ``[END]``
follows the last run. The check face is unchanged: the
template's words at their word positions of the output, so a hole the model filled with more or fewer than ``k``
words fails it. Nothing is out of vocabulary there; ``allow_unk`` does nothing.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from ctrlgen.constraints.base import (
    Constraint,
    ConstraintError,
    HardSpec,
    check_words,
    compile_runs,
    compile_words,
    is_subword,
)
from ctrlgen.constraints.fill_check import FillCheck
from ctrlgen.oracles.count_nouns import BUNDLED_NOUNS, CountNouns
from ctrlgen.oracles.replaced_tokens import BUNDLED_RTD, ReplacedTokenDetector
from ctrlgen.oracles.word_pairs import BUNDLED, WordPairs
from ctrlgen.registry import CHECK, HARD
from ctrlgen.text.tokenizer import Tokenizer, word_spans
from ctrlgen.text.vocab import END, MASK, PAD, START

_HOLE = re.compile(r"\[MASK(?::(\d+))?\]")
_TEMPLATE_HINT = "write holes as [MASK] (one token) or [MASK:3] (three tokens), e.g. 'The Vaults is a [MASK:3] pub .'"


def parse_template(template: str) -> tuple[dict[int, str], int, int]:
    """``template`` → ``(words, n_words, n_holes)``: ``words[k]`` is word ``k`` (1-based, so also its
    sequence position), ``n_words`` counts words and hole tokens, ``n_holes`` the hole tokens."""
    return parse_spaced(template)[:3]  # type: ignore[return-value]


def parse_spaced(template: str) -> tuple[dict[int, str], int, int, dict[int, bool]]:
    """:func:`parse_template` plus ``space_before[k]``: whether word ``k`` follows whitespace in ``template``
    (a word right after a hole: whether the template has a space there)."""
    if not isinstance(template, str):
        raise ConstraintError(f"a template must be a str, got {type(template).__name__}", _TEMPLATE_HINT)
    words: dict[int, str] = {}
    spaces: dict[int, bool] = {}
    n = holes = start = 0
    for m in [*_HOLE.finditer(template), None]:
        literal = template[start:m.start() if m else len(template)]
        if "[MASK" in literal or "MASK]" in literal:
            raise ConstraintError(f"malformed hole in template {template!r}", _TEMPLATE_HINT)
        for w, a, _ in word_spans(literal):
            n += 1
            words[n], spaces[n] = w, literal[a - 1].isspace() if a > 0 else start == 0  # text start: as if spaced
        if m:
            k = int(m.group(1) or 1)
            if k < 1:
                raise ConstraintError(f"a hole needs at least one token, got {m.group(0)} in {template!r}",
                                      _TEMPLATE_HINT)
            n, holes, start = n + k, holes + k, m.end()
    return words, n, holes, spaces


class _Layout(Constraint):
    """Words at positions (and maybe the text's end): one hard face and one check face for all."""

    faces: ClassVar[frozenset[str]] = frozenset({HARD, CHECK})
    allow_unk: bool

    @abstractmethod
    def layout(self) -> tuple[dict[int, str], int | None]:
        """``(words by position, number of words or None when the end is free)``."""

    def space_before(self) -> dict[int, bool]:
        """Whether each fixed word follows a space (subword models encode the runs so; default: all do)."""
        return {}

    def hard(self, tokenizer: Tokenizer, seq_len: int) -> HardSpec | None:
        """The fixed words at their positions; on a subword model ``None`` after checking that the layout fits
        (the backend places it per sample: :func:`ctrlgen.core.placement.place_layouts`)."""
        words, n = self.layout()
        if is_subword(tokenizer):
            compile_runs(self, tokenizer, seq_len, words, n, self.space_before())
            return None
        return compile_words(self, tokenizer, seq_len, words, n, self.allow_unk)

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        return [s == 1.0 for s in self.score(texts)]

    def score(self, texts: Sequence[str]) -> list[float]:
        """Share of the fixed words found at their positions (and of the length, where fixed)."""
        return check_words(texts, *self.layout())

    def judge(self, texts: Sequence[str]) -> tuple[list[bool], list[float]]:
        scores = self.score(texts)
        return [s == 1.0 for s in scores], scores


@dataclass(frozen=True, repr=False)
class Infill(FillCheck, _Layout):
    """A whole text with holes: its words fixed at their positions, ``[END]`` after the last word or
    hole, ``[PAD]`` after that; the holes are the free positions. Needs at least one hole.

    Check face — strict: it says ``satisfied`` only when it is confident, and leaves out about half the good fills
    to get there (the README's "What `satisfied` means" has the measured precision and recall). Every template word
    at its position *and* the filled text well-formed (:func:`~ctrlgen.oracles.wellformed.fragment_errors`: no
    *near the .*, no *pub pub*) *and* every word pair and word triple touching a hole attested in the training text
    (:mod:`ctrlgen.oracles.word_pairs`: no *coffee food*, no *but it is riverside*; new words and names are never
    held against a fill, nor — with ``grammar`` — a verb and the article or adjective that opens its object, *serves
    the food*; but two known names run together are: :mod:`ctrlgen.oracles.name_runs`) *and* no phrase touching a
    hole that does not parse (:mod:`ctrlgen.oracles.phrases`: no *a family friendly that serves*, no sentence whose
    only verb is in a relative or an *although* clause) *and* no word of a hole or right next to one that the
    learned replaced-token detector flags (:mod:`ctrlgen.oracles.replaced_tokens`, ``p_replaced >=``
    :data:`~ctrlgen.constraints.fill_check.RTD_TAU`: *a pub
    Cricketers*, *a family friendly Bakers*); ``score`` stays the share of template words in place.
    ``report["constraints"]`` therefore says ``satisfied: False`` for a fragment even where ``score`` is 1.0.
    ``pairs`` is the word-pair (and triple) table: the bundled E2E one by default, your own
    (:meth:`~ctrlgen.oracles.word_pairs.WordPairs.from_texts`) for another domain, ``None`` for the rules alone;
    ``grammar=False`` leaves out the parse-based phrase rules (English grammar; e.g. for another language);
    ``count_nouns`` is the table of nouns that take a determiner (:mod:`ctrlgen.oracles.count_nouns`: no *find
    English coffee shop*): the bundled E2E one, your own, or ``None``; it is a phrase rule, so off with ``grammar``.
    ``detector`` is the learned gate: the bundled E2E one (``"e2e-rtd"``, the default), your own
    (``recipes/train_rtd.py``) for another domain, or ``None`` for the rules and tables alone (more recall, less
    precision)."""

    template: str
    allow_unk: bool = field(default=False, kw_only=True)  # fix unknown words to [UNK] instead of raising
    pairs: WordPairs | str | None = field(default=BUNDLED, kw_only=True, repr=False, compare=False)
    grammar: bool = field(default=True, kw_only=True, repr=False, compare=False)  # the parse-based phrase rules
    count_nouns: CountNouns | str | None = field(default=BUNDLED_NOUNS, kw_only=True, repr=False, compare=False)
    detector: ReplacedTokenDetector | str | None = field(default=BUNDLED_RTD, kw_only=True, repr=False, compare=False)
    _parsed: tuple[dict[int, str], int, int, dict[int, bool]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parsed", parse_spaced(self.template))
        if self._parsed[2] == 0:
            raise ConstraintError(f"Infill template {self.template!r} has no hole", _TEMPLATE_HINT)
        if not isinstance(self.grammar, bool):
            raise ConstraintError(f"Infill grammar must be True or False, got {self.grammar!r}",
                                  "grammar=False leaves out the parse-based phrase rules of the check")
        self._check_tables()

    def layout(self) -> tuple[dict[int, str], int | None]:
        return self._parsed[0], self._parsed[1]

    def space_before(self) -> dict[int, bool]:
        return self._parsed[3]

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        return self.judge(texts)[0]

    def _free(self) -> list[int]:
        words, n = self.layout()
        return [k for k in range(1, (n or 0) + 1) if k not in words]


@dataclass(frozen=True, repr=False)
class Prefix(_Layout):
    """The text starts with ``text`` (holes allowed); what follows, and the length, stay free."""

    text: str
    allow_unk: bool = field(default=False, kw_only=True)  # fix unknown words to [UNK] instead of raising
    _parsed: tuple[dict[int, str], int, int, dict[int, bool]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parsed", parse_spaced(self.text))
        if not self._parsed[0]:
            raise ConstraintError(f"Prefix {self.text!r} fixes no word", "pass the words the text starts with")

    def layout(self) -> tuple[dict[int, str], int | None]:
        return self._parsed[0], None

    def space_before(self) -> dict[int, bool]:
        return self._parsed[3]


@dataclass(frozen=True, repr=False)
class Suffix(_Layout):
    """The text ends with ``text`` (holes allowed) and has ``length`` words in all, suffix included.

    Positions are counted from the start, so the end must be known: the suffix's m words sit at
    positions ``length - m + 1 … length``, ``[END]`` at ``length + 1``. ``Suffix(t, length=n)``
    therefore implies ``Length(n)`` (composing both is harmless; another length conflicts).
    """

    text: str
    length: int = field(kw_only=True)  # total number of words of the text, suffix included
    allow_unk: bool = field(default=False, kw_only=True)  # fix unknown words to [UNK] instead of raising
    _parsed: tuple[dict[int, str], int, int, dict[int, bool]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parsed", parse_spaced(self.text))
        words, m = self._parsed[:2]
        if not words:
            raise ConstraintError(f"Suffix {self.text!r} fixes no word", "pass the words the text ends with")
        if isinstance(self.length, bool) or not isinstance(self.length, int) or self.length < m:
            raise ConstraintError(f"Suffix {self.text!r} has {m} words, so length must be an int >= {m}, "
                                  f"got {self.length!r}", "length is the whole text's number of words")

    def layout(self) -> tuple[dict[int, str], int | None]:
        words, m = self._parsed[:2]
        return {self.length - m + p: w for p, w in words.items()}, self.length

    def space_before(self) -> dict[int, bool]:
        m = self._parsed[1]
        return {self.length - m + p: s for p, s in self._parsed[3].items()}


@dataclass(frozen=True, repr=False)
class FixedTokens(_Layout):
    """The general form: ``{position: word}`` with positions from ``[START]`` = 0 (so ≥ 1).

    A word may be ``"[END]"`` (the text has ``position - 1`` words; ``[PAD]`` follows, as in
    ``Length``) or ``"[PAD]"`` (the text ended before ``position``). Stored as sorted pairs.
    """

    tokens: Mapping[int, str]
    allow_unk: bool = field(default=False, kw_only=True)  # fix unknown words to [UNK] instead of raising

    def __post_init__(self) -> None:
        hint = "pass {position: word} with positions >= 1 (position 0 is [START]), e.g. {3: 'pub'}"
        if not isinstance(self.tokens, Mapping) or not self.tokens:
            raise ConstraintError(f"FixedTokens needs a non-empty mapping, got {self.tokens!r}", hint)
        for p, w in self.tokens.items():
            if isinstance(p, bool) or not isinstance(p, int) or p < 1 or not isinstance(w, str) or w in (START, MASK):
                raise ConstraintError(f"FixedTokens cannot fix position {p!r} to {w!r}", hint)
        ends = [p for p, w in self.tokens.items() if w == END]
        last_word = max((p for p, w in self.tokens.items() if w not in (END, PAD)), default=0)
        first_stop = min((p for p, w in self.tokens.items() if w in (END, PAD)), default=last_word + 1)
        if len(ends) > 1 or last_word > first_stop or (ends and first_stop < ends[0]):
            raise ConstraintError(f"FixedTokens {dict(self.tokens)!r} is not a well-formed text",
                                  "one [END] at most, words before it, [PAD] only after it")
        object.__setattr__(self, "tokens", tuple(sorted(self.tokens.items())))

    def layout(self) -> tuple[dict[int, str], int | None]:
        tokens = dict(self.tokens)
        end = next((p for p, w in tokens.items() if w == END), None)
        return {p: w for p, w in tokens.items() if w != END}, None if end is None else end - 1

    def __repr__(self) -> str:
        return f"FixedTokens({dict(self.tokens)!r}{', allow_unk=True' if self.allow_unk else ''})"
