"""Word layouts on a subword model: the runs of a merged word layout, the search over hole lengths, and the word
boundaries that make a hole of k words hold exactly k words.

``Infill``, ``Prefix``, ``Suffix``, ``FixedTokens`` and ``Length`` fix words at *word* positions, which have no known
subword position on a subword model. :func:`layout_runs` merges the leaves' word layouts (one word per word position,
one length) into runs (:func:`ctrlgen.text.alignment.subword_runs`): ``hole`` free words, then fixed subwords (and
``[END]`` when the length is fixed). :func:`search_runs` chooses each hole's subword count m: a hole of k words may
take ``k … SUBWORDS_PER_WORD·k`` subwords, and a layout's score is

    log p(run 1 | taken) + log p(run 2 at its start | taken, run 1) + …  +  Σ_holes log p(m | k)

— the chain rule of the backend's ``PlacementScore`` plus a length prior. The model's term alone favours long holes
(with everything else masked, a later start of the next run is likelier), and most subwords are whole words, so a
hole drawn by it alone got about as many words as subwords. The prior (:func:`length_logp`) says that each of the k
words takes 1 + e subwords with e geometric, P(e ≥ 1) = ``EXTRA_SUBWORD_P``: the count of extra subwords is then
negative binomial, p(m | k) = C(m−1, k−1) · q^(m−k) · (1−q)^k, and given m every split of the m positions into k
words is equally likely. The default q is 0 (measured best, :data:`EXTRA_SUBWORD_P`): every hole word is one
whole-word subword, so the holes' lengths are known without scoring, but for the room ``Contains`` phrases need.

**Word boundaries** (:func:`hole_bans`). A hole of m subwords and k words is split into k words per sample (the
first subword starts a word; the other k − 1 word starts are drawn uniformly among the hole's other positions), and
each position gets a ban (``HardSpec.banned``): at a word start only subwords that start one whole word (after a word:
a leading space or a character spaCy splits off; at the text's first position: any subword that spells one word),
at a continuation only subwords that continue the word before them (no leading space, nothing spaCy splits off).
So the hole holds exactly k words, which is what ``[MASK:3]`` means (:func:`word_pieces` builds the sets from the
vocabulary alone). What the sets cannot see: a continuation that spaCy splits off after some words only
(``£`` + ``20`` is two words, ``pub`` + ``20`` one), or two word starts that spaCy joins (``Ġa`` + ``.`` is
``a.``) — the check face judges the text as it is.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ctrlgen.constraints.base import ConstraintError, WordLayout, is_subword
from ctrlgen.constraints.composition import PreparedConstraint
from ctrlgen.constraints.contains import PlacementScore
from ctrlgen.errors import ConstraintConflictError
from ctrlgen.registry import HARD
from ctrlgen.text.alignment import Run, glue_ids, subword_runs
from ctrlgen.text.bpe import byte_of_char
from ctrlgen.text.tokenizer import Tokenizer, split_words
from ctrlgen.text.vocab import SPECIALS

SUBWORDS_PER_WORD = 3  # a hole of k words is searched over k … 3k subwords
LAYOUT_BEAM = 64  # partial layouts kept after each hole (the search is exact up to this many combinations)
#: prior P(a word takes one more subword) (length_logp). 0: a hole of k words is k subwords, each a whole word — best
#: measured on e2e-masked-bpe (50 holes × 4: infill BLEU-4 / hole BLEU-4 0.838 / 0.226 at 0, 0.813 / 0.160 at 0.02,
#: 0.813 / 0.155 at 0.1; the model's score buys longer holes whenever it may). A tokenizer that splits most words
#: needs it > 0 (a word absent from the vocabulary can then be written in a hole).
EXTRA_SUBWORD_P = 0.0
PRIOR_FLOOR = math.log(1e-4)  # hole lengths whose prior is this far below the hole's likeliest are not scored


@dataclass(frozen=True)
class Hole:
    """``size`` free positions from ``start`` that hold ``words`` words."""

    start: int
    size: int
    words: int


@dataclass(frozen=True)
class Layout:
    """One complete placement: ``positions`` (position → id) of the runs, its score ``logp`` and its holes."""

    positions: dict[int, int]
    logp: float
    holes: tuple[Hole, ...]


def layout_runs(prepared: PreparedConstraint | None, tokenizer: Tokenizer) -> list[Run] | None:
    """The merged word layout of ``prepared``'s layout leaves as runs, on a subword model; ``None`` on the word level
    or without such a leaf. Two leaves that fix one word position (or the length) differently raise
    ``ConstraintConflictError`` naming both."""
    if prepared is None or not is_subword(tokenizer):
        return None
    leaves = [t.constraint for t in prepared.terms if HARD in t.faces and isinstance(t.constraint, WordLayout)]
    if not leaves:
        return None
    words: dict[int, str] = {}
    spaces: dict[int, bool] = {}
    n_words, by = None, {}  # by: position (0 = the length) → the leaf that set it
    for leaf in leaves:
        mine, n = leaf.layout()
        for p, w in [*mine.items(), *([(0, n)] if n is not None else [])]:
            held = n_words if p == 0 else words.get(p)
            if held is not None and held != w:
                what = "the number of words" if p == 0 else f"word {p}"
                raise ConstraintConflictError(f"{by[p]!r} and {leaf!r} fix {what} differently ({held!r} vs {w!r})",
                                              "drop one of them or make them agree")
            by[p] = leaf
        words.update(mine)
        spaces.update(leaf.space_before())
        n_words = n if n is not None else n_words
    return subword_runs(tokenizer, words, n_words, spaces)


def length_logp(size: int, words: int, q: float) -> float:
    """log p(``size`` subwords | ``words`` words) = log C(size−1, words−1) + (size−words)·log q + words·log(1−q)
    (module doc); ``q = 0``: 0 for ``size == words``, −∞ otherwise."""
    extra = size - words
    if extra < 0:
        return -math.inf
    if q == 0:
        return 0.0 if extra == 0 else -math.inf
    return math.log(math.comb(size - 1, words - 1)) + extra * math.log(q) + words * math.log1p(-q)


def search_runs(runs: Sequence[Run], base: Mapping[int, int], seq_len: int, score: PlacementScore, end_fixed: bool,
                extra: int = 0, per_word: int = SUBWORDS_PER_WORD, beam: int = LAYOUT_BEAM,
                q: float | None = None) -> list[Layout]:
    """Complete placements of ``runs`` after ``[START]``, the likeliest first (at most ``beam``): a hole of k words
    takes k … ``per_word``·k + ``extra`` positions (``extra``: room for the subwords of phrases to be placed later);
    each run is scored by ``score`` given ``base`` and the runs before it, plus the length prior of its hole
    (:func:`length_logp` with ``q``, default :data:`EXTRA_SUBWORD_P`; ``extra`` positions are free of it; lengths
    whose prior lies ``PRIOR_FLOOR`` below the hole's likeliest are not scored: the search's cost is the model's
    forwards). A placement must keep ``base``'s tokens and leave room for the runs after it (and for ``[END]`` when
    no run fixes it). Raises ``ConstraintError`` when none fits ``seq_len``."""
    q = EXTRA_SUBWORD_P if q is None else q
    limit = seq_len if end_fixed else seq_len - 1  # fixed tokens lie below this (room for [END] when it is free)
    states: list[Layout] = [Layout({}, 0.0, ())]
    cursors = [1]
    for i, run in enumerate(runs):
        rest = sum(r.hole + len(r.ids) for r in runs[i + 1:])
        lengths = range(run.hole, per_word * run.hole + extra + 1) if run.hole else range(1)
        prior = {m: length_logp(max(run.hole, m - extra), run.hole, q) if run.hole else 0.0 for m in lengths}
        lengths = [m for m in lengths if prior[m] >= max(prior.values()) + PRIOR_FLOOR]
        grown, moved = [], []
        for state, cursor in zip(states, cursors, strict=True):
            starts = [cursor + m for m in lengths if cursor + m + len(run.ids) + rest <= limit
                      and all(base.get(cursor + m + j, w) == w for j, w in enumerate(run.ids))]
            if not starts:
                continue
            if len(states) == 1 and len(starts) == 1:  # one candidate: its score changes no choice
                scores = [0.0]
            else:
                scores = score({**base, **state.positions}, starts, run.ids).double().cpu().tolist()
            for s, lp in zip(starts, scores, strict=True):
                holes = state.holes + ((Hole(cursor, s - cursor, run.hole),) if run.hole else ())
                grown.append(Layout({**state.positions, **dict(zip(range(s, s + len(run.ids)), run.ids, strict=True))},
                                    state.logp + lp + prior[s - cursor], holes))
                moved.append(s + len(run.ids))
        if not grown:
            raise ConstraintError(f"the fixed words ({sum(len(r.ids) for r in runs)} subwords) and holes "
                                  f"({sum(r.hole for r in runs)} words, one subword each at least) do not fit "
                                  f"seq_len {seq_len} beside the tokens already fixed",
                                  "shorten the template or the length, or use a model with a longer seq_len")
        order = sorted(range(len(grown)), key=lambda j: -grown[j].logp)[:beam]
        states, cursors = [grown[j] for j in order], [moved[j] for j in order]
    return states


@dataclass(frozen=True)
class WordPieces:
    """Banned-id sets of a hole's positions (complements of what may go there; shared objects, so a batch builds one
    tensor per set), each a pair ``(closed, open)`` — ``open`` where a continuation follows, so the subword must end
    in a letter or digit that the continuation can join: ``first`` at the text's first position (a word start),
    ``start`` at a word start after a word, ``cont`` at a position that continues the word before it."""

    first: tuple[frozenset[int], frozenset[int]]
    start: tuple[frozenset[int], frozenset[int]]
    cont: tuple[frozenset[int], frozenset[int]]


CONT_STEMS = ("pub", "is", "ca")  # a continuation must join each of these into one word (``is`` + ``n't`` does not)


@functools.lru_cache(maxsize=8)
def word_pieces(tokenizer: Tokenizer) -> WordPieces:
    """The sets of :class:`WordPieces` for a byte-level tokenizer, from its vocabulary alone: a subword *starts a
    word* after one when it does not glue (:func:`ctrlgen.text.alignment.glue_ids`) and ``"pub" + its text`` is two
    spaCy words; at the text's first position when its text alone is one word; it *continues* a word when it glues
    and joins every stem of :data:`CONT_STEMS` into one word. Special tokens, whitespace-only subwords and those that
    are not text (:func:`is_text_piece`: a byte fragment of a character, a control character) go nowhere in a hole:
    a hole's position holds whole characters, so a word that the vocabulary spells only in byte fragments (an emoji
    it never merged) is written by a fixed word, not in a hole."""
    table, glue = byte_of_char(), glue_ids(tokenizer)
    first, start, cont, open_ = set(), set(), set(), set()
    for i, t in enumerate(tokenizer.vocab.words):
        if t in SPECIALS or not is_text_piece(raw := bytes(table[c] for c in t)):
            continue
        text = raw.decode("utf-8", "replace")
        if text[-1].isalnum():
            open_.add(i)
        if len(split_words(text)) == 1:
            first.add(i)
        after = split_words("pub" + text)
        if i in glue and all(len(split_words(stem + text)) == 1 for stem in CONT_STEMS):
            cont.add(i)
        elif i not in glue and len(after) == 2 and after[0] == "pub":
            start.add(i)
    every = frozenset(range(len(tokenizer.vocab.words)))
    return WordPieces(*((every - ok, every - (ok & open_)) for ok in (first, start, cont)))


def is_text_piece(raw: bytes) -> bool:
    """Whether a subword's bytes ``raw`` are whole characters of text: complete UTF-8 (a fragment of a character
    decodes to U+FFFD, and two fragments written side by side need not make one) and no control character (Unicode
    category Cc: C0 — tab and newline included —, DEL, C1), which no word contains."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(unicodedata.category(ch) == "Cc" for ch in text)


def hole_bans(holes: Sequence[Hole], tokenizer: Tokenizer,
              generator: torch.Generator | None = None) -> dict[int, frozenset[int]]:
    """Position → banned ids for ``holes`` (module doc): each hole's first position starts a word, ``words − 1`` more
    word starts are drawn uniformly among its other positions with ``generator`` (only when there is a choice), the
    rest continue a word; a position followed by a continuation takes a subword that ends in a letter or digit."""
    pieces, out = word_pieces(tokenizer), {}
    for h in holes:
        if h.size == h.words or h.words == 1:
            starts = set(range(h.size)) if h.size == h.words else {0}
        else:
            device = generator.device if generator is not None else "cpu"
            draw = torch.randperm(h.size - 1, generator=generator, device=device)[:h.words - 1]
            starts = {0, *(int(j) + 1 for j in draw.tolist())}
        for j in range(h.size):
            sets = (pieces.first if h.start + j == 1 else pieces.start) if j in starts else pieces.cont
            out[h.start + j] = sets[j + 1 < h.size and j + 1 not in starts]
    return out
