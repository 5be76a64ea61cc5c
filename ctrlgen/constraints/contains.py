"""``Contains(*phrases)``: every phrase occurs in the text as a contiguous run of whole words — open vocabulary.

```python
Contains("Japanese")                                   # anywhere
Contains("family friendly", "city centre")             # both, in any order (they may share no word)
Contains("The Vaults", "near", ordered=True, max_position=3)   # in this order; each starts at word 1..3
```

**Words and positions.** Phrases and texts are split with :func:`ctrlgen.text.split_words` and compared
case-sensitively (as :func:`~ctrlgen.oracles.metrics.semantic_success`). A position is the 1-based index of a
phrase's *first* word in the text, which is also its sequence position (``[START]`` is 0);
``min_position`` / ``max_position`` bound the start of every phrase. With ``ordered`` the phrases occur in the
given order without overlapping; without it each phrase may occur anywhere (overlaps allowed where the words agree).

**Faces.** *check*: exact word match on the output; ``score`` is the share of phrases found (with ``ordered``,
found by one left-to-right scan). *hard*: the phrase is placed per sample by the backend, not at a fixed slot —
:meth:`Contains.place` picks each phrase's start from the model's own likelihood (a ``score`` callback the backend
supplies) and returns one :class:`~.base.HardSpec` per sample, which the backend then conditions on exactly
(``ctrlgen.backends.discrete.generator``). ``hard()`` itself only validates (the vocabulary, ``seq_len``, whether
the phrases fit) and fixes nothing, so it raises at prepare time, before any sampling. Backends: ``discrete``
(projection) and ``embedding`` (the phrase's embeddings clamped at every step), both through
:mod:`ctrlgen.core.placement`; ``edit`` uses the check face (drafts ranked by it, revisions kept by it).

*soft, classifier-free* (``face="soft"``, the ``embedding`` backend): the denoiser is the classifier. With
x̂0 = f_θ(x_t, t) the model's clean-embedding prediction and ``logits`` its rounding head,
q_p(v) = softmax(logits(x̂0))_p[v] is a per-position clean-token distribution, and

    loss(x_t, t) = −Σ_i log Σ_{s ∈ S_i} ∏_j q_{s+j}(w_ij)          (:func:`.phrase_math.phrases_log_prob`)

— phrase i's soft OR over its allowed starts S_i (the position bounds), summed over the phrases — is
−log p(c | x_t, t) under the factorised x̂0 (an upper bound on the probability; :mod:`.phrase_math` gives the math
and its tightness). Gradient guidance (:mod:`ctrlgen.backends.embedding.guidance`) moves the latents along −∇loss,
toward latents whose x̂0 spells the phrase somewhere. No classifier is trained, so any in-vocabulary phrase works;
``ordered`` is not part of the loss (the check face still judges it). The soft face needs the model
(:meth:`Contains.bind`, done by ``prepare(..., model=...)`` and by ``generate``).

*Which face.* ``face="hard"`` (the default) gives the hard and check faces; ``face="soft"`` the soft and check faces
(a preference, e.g. with a ``weight``: ``0.5 * Contains("pub", face="soft")``; ``embedding`` backend only). Measured
on the bundled ``e2e`` (``recipes/contains_control.py``, 10 phrases, n = 8, 50 steps, 1 thread): hard placement met
every phrase in every sample (success 1.00, bigram precision 0.975 vs 0.974 without control, 2.0 s per call); soft
guidance 0.96 (one phrase at 5/8), bigram precision 0.983, 18 s per call (the denoiser's backward pass, 3 inner steps
per step). Hard is therefore the default wherever the backend fixes words; soft is the choice for a preference.

**Out-of-vocabulary words** raise :class:`~.base.OutOfVocabularyError` naming all of them, as for ``Infill``;
with ``allow_unk=True`` they are placed as ``[UNK]`` and the per-sample hard specs keep the words for write-back.

**On a subword (BPE) model** a phrase is placed as a contiguous run of subwords: the phrase as written (stripped)
encoded *with* a leading space (``" city centre"`` → ``Ġcity Ġcentre``) wherever it starts after other text, and
*without* one at position 1 (the text's start), each start scored with its own encoding. Nothing is out of
vocabulary (byte level; ``allow_unk`` does nothing). The check face is unchanged: the phrase's words among the
output's words. ``min_position`` / ``max_position`` count words, which a subword placement cannot bound before the
text exists, so they raise ``UnsupportedConstraintError`` on such a model (drop them, or rerank by the check face).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ctrlgen.constraints.base import (
    Backend,
    Constraint,
    ConstraintError,
    HardSpec,
    SoftFn,
    UnsupportedConstraintError,
    as_texts,
    compile_words,
    is_subword,
)
from ctrlgen.constraints.phrase_math import phrases_log_prob
from ctrlgen.registry import CHECK, HARD, SOFT_EMBEDDING
from ctrlgen.text.alignment import ends_word, glue_ids
from ctrlgen.text.tokenizer import Tokenizer, split_words

#: ``score(taken, starts, ids) -> Tensor[S]``: log-likelihood of the phrase ``ids`` at each start in ``starts`` given
#: the tokens ``taken`` (position → id) already fixed, everything else unknown. Supplied by the backend.
PlacementScore = Callable[[Mapping[int, int], Sequence[int], Sequence[int]], Tensor]
_HINT = "e.g. Contains('Japanese', 'city centre', ordered=False, min_position=None, max_position=None)"
FACES = {"hard": frozenset({HARD, CHECK}), "soft": frozenset({SOFT_EMBEDDING, CHECK})}  # by ``face=``


@dataclass(frozen=True, init=False, repr=False)
class Contains(Constraint):
    """Every phrase occurs as a contiguous run of whole words (module doc: positions, order, faces).

    A position is the 1-based word index of a phrase's first word (= its sequence position, ``[START]`` being 0);
    ``min_position``/``max_position`` bound it for every phrase."""

    phrases: tuple[str, ...]
    ordered: bool = False  # the phrases occur in the given order, without overlap
    min_position: int | None = None  # smallest 1-based word index a phrase may start at
    max_position: int | None = None  # largest 1-based word index a phrase may start at
    allow_unk: bool = False  # place out-of-vocabulary words as [UNK] instead of raising
    face: str = "hard"  # "hard": placed and fixed (hard + check faces); "soft": classifier-free guidance + check
    _words: tuple[tuple[str, ...], ...] = field(default=(), repr=False, compare=False)
    _model: Any = field(default=None, repr=False, compare=False)  # the denoiser, after bind() (soft face)

    def __init__(self, *phrases: str, ordered: bool = False, min_position: int | None = None,
                 max_position: int | None = None, allow_unk: bool = False, face: str = "hard") -> None:
        if not phrases:
            raise ConstraintError("Contains needs at least one phrase", _HINT)
        words = []
        for p in phrases:
            if not isinstance(p, str):
                raise ConstraintError(f"Contains: a phrase must be a str, got {type(p).__name__} {p!r}",
                                      "pass each phrase as its own string: Contains('city centre', 'pub')")
            if not split_words(p):
                raise ConstraintError(f"Contains: phrase {p!r} has no word", "pass non-empty phrases")
            words.append(tuple(split_words(p)))
        for name, v in (("ordered", ordered), ("allow_unk", allow_unk)):
            if not isinstance(v, bool):
                raise ConstraintError(f"Contains: {name} must be True or False, got {v!r}", _HINT)
        for name, v in (("min_position", min_position), ("max_position", max_position)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ConstraintError(f"Contains: {name} must be None or an int >= 1 (word 1 is the first word), "
                                      f"got {v!r}", _HINT)
        if face not in FACES:
            raise ConstraintError(f"Contains: face must be 'hard' or 'soft', got {face!r}",
                                  "'hard' places and fixes the phrase; 'soft' steers toward it (embedding backend)")
        if min_position is not None and max_position is not None and min_position > max_position:
            raise ConstraintError(f"Contains: min_position {min_position} > max_position {max_position}",
                                  "the phrases' start must lie in min_position..max_position")
        for name, v in (("phrases", tuple(phrases)), ("ordered", ordered), ("min_position", min_position),
                        ("max_position", max_position), ("allow_unk", allow_unk), ("face", face),
                        ("_words", tuple(words)), ("_model", None)):
            object.__setattr__(self, name, v)

    @property
    def faces(self) -> frozenset[str]:
        """hard + check (``face="hard"``) or soft:embedding + check (``face="soft"``)."""
        return FACES[self.face]

    # ------------------------------------------------------------------------------------ check face
    def _found(self, words: list[str]) -> list[bool]:
        """Per phrase, whether it occurs in ``words`` within the position bounds (ordered: one greedy scan, each
        phrase at its earliest start after the previous match — optimal, as all phrases share the bounds)."""
        lo, hi = self.min_position or 1, self.max_position or len(words)
        out, cursor = [], lo
        for w in self._words:
            k = len(w)
            first = cursor if self.ordered else lo
            s = next((s for s in range(first, min(hi, len(words) - k + 1) + 1) if tuple(words[s - 1:s - 1 + k]) == w),
                     None)
            out.append(s is not None)
            if s is not None and self.ordered:
                cursor = s + k
        return out

    def score(self, texts: Sequence[str]) -> list[float]:
        """Share of the phrases found in each text."""
        return [sum(f) / len(f) for f in (self._found(split_words(t)) for t in as_texts(texts))]

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        return [s == 1.0 for s in self.score(texts)]

    def judge(self, texts: Sequence[str]) -> tuple[list[bool], list[float]]:
        scores = self.score(texts)
        return [s == 1.0 for s in scores], scores

    # ------------------------------------------------------------------------------------- hard face
    def compile(self, tokenizer: Tokenizer, seq_len: int) -> tuple[tuple[tuple[int, ...], ...], frozenset[str]]:
        """``(token ids per phrase, the out-of-vocabulary words placed as [UNK])``.

        Raises ``OutOfVocabularyError`` naming every unknown word (unless ``allow_unk``), ``ConstraintError`` when a
        phrase is longer than the sequence or the phrases cannot all fit in ``seq_len`` within the bounds. On a subword
        model the ids are the subwords of each phrase after a space (module doc) and nothing is unknown."""
        if is_subword(tokenizer):
            if self.min_position is not None or self.max_position is not None:
                raise UnsupportedConstraintError(
                    f"{self!r}: min_position/max_position count words, which a subword model cannot place by",
                    "drop the position bounds on this model (the check face still tells where the phrase landed)")
            ids, unk = tuple(self.subwords(tokenizer, first=False)), frozenset[str]()
            unit = "subwords"
        else:
            flat = {p + 1: w for p, w in enumerate(w for ph in self._words for w in ph)}
            spec = compile_words(self, tokenizer, len(flat) + 2, flat, None, self.allow_unk)  # vocabulary only
            ids_, p = [], 1
            for ph in self._words:
                ids_.append(tuple(spec.positions[p + j] for j in range(len(ph))))
                p += len(ph)
            ids, unk, unit = tuple(ids_), frozenset(spec.unk_words.values()), "words"
        k = max(range(len(ids)), key=lambda i: len(ids[i]))
        if len(ids[k]) + 2 > seq_len:
            raise ConstraintError(f"{self!r}: the phrase {' '.join(self._words[k])!r} has {len(ids[k])} {unit}, the "
                                  f"model's sequence holds at most {seq_len - 2} ([START] and [END] take two positions)",
                                  "shorten the phrase or use a model with a longer seq_len")
        if not self._fits(ids, range(len(ids)), {}, 1, seq_len - 2):
            raise ConstraintError(f"{self!r}: the phrases cannot all fit in {seq_len - 2} {unit}"
                                  + (" within the position bounds" if self.min_position or self.max_position else ""),
                                  "drop a phrase, widen min_position/max_position, or use a longer model")
        return ids, unk

    def fits(self, tokenizer: Tokenizer, seq_len: int, taken: Mapping[int, int], last: int) -> bool:
        """Whether every phrase can still be placed by position ``last`` beside the ``taken`` tokens."""
        ids, _ = self.compile(tokenizer, seq_len)
        return self._fits(ids, range(len(ids)), taken, 1, last, tokenizer.vocab.unk_id)

    def excess(self, tokenizer: Tokenizer, seq_len: int) -> int:
        """How many more tokens than words the phrases take (0 on the word level): what a subword layout's holes
        must make room for."""
        ids, _ = self.compile(tokenizer, seq_len)
        return sum(max(0, len(i) - len(w)) for i, w in zip(ids, self._words, strict=True))

    def subwords(self, tokenizer: Tokenizer, first: bool) -> list[tuple[int, ...]]:
        """Each phrase's subword ids on a subword model: as the text's start (``first``) or after a space."""
        return [tuple(tokenizer.encode(("" if first else " ") + p.strip())[1:-1]) for p in self.phrases]

    def hard(self, tokenizer: Tokenizer, seq_len: int) -> HardSpec | None:
        """Validates (raises before sampling) but fixes nothing: placements are per sample (:meth:`place`)."""
        self.compile(tokenizer, seq_len)
        return None

    def _window(self, k: int, last: int) -> range:
        """Starts whose phrase of ``k`` words lies within the bounds and ends by position ``last``."""
        return range(max(1, self.min_position or 1), min(self.max_position or last, last - k + 1) + 1)

    @staticmethod
    def _free(ids: Sequence[int], s: int, taken: Mapping[int, int], unk_id: int = -1) -> bool:
        """Positions s … are free or hold the same word (a fixed [UNK] never counts as the same: its word may differ)."""
        return all(taken.get(s + j, w) == w and not (w == unk_id and s + j in taken) for j, w in enumerate(ids))

    def _fits(self, ids: tuple[tuple[int, ...], ...], rest: Sequence[int], taken: Mapping[int, int], cursor: int,
              last: int, unk_id: int = -1) -> bool:
        """Whether the phrases ``rest`` can still be placed at or after ``cursor`` (unordered: anywhere) without
        overlapping each other. Exact for a fixed left-to-right order (each at its earliest free start); unordered
        phrases search the orders, memoised on (phrases left, cursor)."""
        memo: dict[tuple[tuple[int, ...], int], bool] = {}

        def go(left: tuple[int, ...], at: int) -> bool:
            if not left:
                return True
            if (left, at) not in memo:
                memo[(left, at)] = any(
                    go(left[:n] + left[n + 1:], s + len(ids[i]))
                    for n, i in enumerate(left[:1] if self.ordered else left)
                    for s in [next((s for s in self._window(len(ids[i]), last) if s >= at
                                    and self._free(ids[i], s, taken, unk_id)), None)] if s is not None)
            return memo[(left, at)]

        return go(tuple(rest), cursor if self.ordered else 1)

    def place(self, tokenizer: Tokenizer, seq_len: int, taken: Sequence[Mapping[int, int]], last: Sequence[int],
              score: PlacementScore, generator: torch.Generator | None = None) -> list[HardSpec]:
        """One placement per sample: ``taken[b]`` are the tokens already fixed for sample b (position → id),
        ``last[b]`` the last position a word may take (before a fixed ``[END]``, else ``seq_len − 2``).

        Phrases are placed one after another: phrase i's start is *sampled* from the posterior over its feasible
        starts, p(s) ∝ exp(score(taken, starts, ids)) — the model's likelihood of the phrase there given what is
        fixed so far (other constraints, the phrases placed before) — so samples differ in where the phrase lands
        (the argmax would put it in one slot for all). A start is feasible when its words are free or already equal,
        it lies within the bounds, follows the previous phrase (``ordered``) and leaves room for the phrases still
        to place. Contexts shared by several samples are scored once. Raises ``ConstraintError`` when a sample has
        no feasible placement (e.g. a ``Length`` too short for the phrases)."""
        ids, unk = self.compile(tokenizer, seq_len)
        subword = is_subword(tokenizer)
        heads = self.subwords(tokenizer, first=True) if subword else ids  # a phrase's ids at position 1
        glue = glue_ids(tokenizer) if subword else frozenset()
        unk_id = tokenizer.vocab.unk_id
        cache: dict[tuple, Tensor] = {}
        out = []
        for b, fixed in enumerate(taken):
            t, mine, said, cursor = dict(fixed), {}, {}, 1
            for i, ph_ in enumerate(ids):
                def at(s: int, i: int = i, ph_: tuple[int, ...] = ph_) -> tuple[int, ...]:
                    return heads[i] if s == 1 else ph_

                cands = [s for s in range(1, last[b] + 1) if s in self._window(len(at(s)), last[b])
                         and s >= (cursor if self.ordered else 1) and self._free(at(s), s, t, unk_id)
                         and not (subword and _glues(tokenizer, glue, at(s), s, t))
                         and self._fits(ids, range(i + 1, len(ids)), {**t, **dict(zip(range(s, s + len(at(s))), at(s)))},
                                        s + len(at(s)), last[b], unk_id)]
                if not cands:
                    raise ConstraintError(f"{self!r} cannot be placed: no room for {' '.join(self._words[i])!r} in "
                                          f"positions 1..{last[b]} beside the other constraints' fixed words",
                                          "lengthen the text (Length), drop a fixed word, or widen the position bounds")
                key = (i, cursor, last[b], tuple(sorted(t.items())))
                if key not in cache:
                    head = [s for s in cands if s == 1 and heads[i] != ph_]  # scored with the start's own ids
                    rest = [s for s in cands if s not in head]
                    logp = torch.cat([score(t, ss, at(ss[0])).double().cpu() for ss in (head, rest) if ss])
                    cache[key] = torch.softmax(logp if bool(logp.isfinite().any()) else torch.zeros_like(logp), 0)
                draw = torch.multinomial(cache[key].to(generator.device if generator else "cpu"), 1,
                                         generator=generator)
                s = cands[int(draw)]
                for j, w in enumerate(at(s)):
                    t[s + j] = mine[s + j] = w
                    if not subword:  # the word level: token j is word j ([UNK] write-back)
                        said[s + j] = self._words[i][j]
                cursor = s + len(at(s))
            out.append(HardSpec(seq_len, mine, {p: w for p, w in said.items() if w in unk}))
        return out

    # ------------------------------------------------------------------------------------- soft face
    def bind(self, context: Any) -> Contains:
        """A copy holding ``context``'s denoiser (an embedding-space model: ``model(x, t)``, ``model.logits``)."""
        if context.space != "embedding":
            raise ConstraintError(f"{self!r}: the soft face reads embedding latents, the model is {context.space}-space",
                                  "use face='hard' (the default) on this backend")
        bound = copy.copy(self)
        object.__setattr__(bound, "_model", context.model)
        return bound

    def soft(self, tokenizer: Tokenizer, seq_len: int, backend: Backend) -> SoftFn:
        """``loss(x: Tensor[B, L, d], t: Tensor[B]) -> Tensor[B]`` = −phrases_log_prob(log_softmax(logits(f(x, t))))
        over each phrase's allowed starts (module doc). Raises before sampling when unbound or the phrases do not
        fit; an ``[UNK]`` placed by ``allow_unk`` is scored as the model's [UNK]."""
        ids, _ = self.compile(tokenizer, seq_len)
        model = self._model
        if model is None:
            raise ConstraintError(f"{self!r}: the soft face needs the model it steers",
                                  "generate through a loaded model (ctrlgen.load('e2e').generate(constraints=...)), "
                                  "or prepare(..., model=ModelContext.of(model, diffusion, path, tokenizer))")
        windows = [list(self._window(len(w), seq_len - 2)) for w in ids]

        def neg_log_prob(x: Tensor, t: Tensor) -> Tensor:
            """−log p(every phrase occurs | x, t) under the factorised x̂0: ``Tensor[B]``."""
            log_probs = model.logits(model(x, t)).log_softmax(-1)
            return -phrases_log_prob(log_probs, [list(w) for w in ids], windows)

        return neg_log_prob

    def __repr__(self) -> str:
        opts = [f"{k}={getattr(self, k)!r}" for k in ("ordered", "min_position", "max_position", "allow_unk", "face")
                if getattr(self, k) != type(self).__dataclass_fields__[k].default]
        return f"Contains({', '.join([*map(repr, self.phrases), *opts])})"


def _glues(tokenizer: Tokenizer, glue: frozenset[int], ids: Sequence[int], s: int, taken: Mapping[int, int]) -> bool:
    """Whether the phrase ``ids`` at start ``s`` writes a token that would join the fixed word just before it (a
    subword model: :func:`ctrlgen.text.alignment.glue_ids`), changing that word."""
    return any(s + j not in taken and s + j - 1 in taken and w in glue and ends_word(tokenizer, taken[s + j - 1])
               for j, w in enumerate(ids))
