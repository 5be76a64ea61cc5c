"""The constraint language's base: faces, backend capabilities, hard specs and the ``Constraint`` ABC.

A constraint speaks to a backend through up to three *faces* (DESIGN.md, "The constraint language"):

* ``"hard"`` — exact: token ids fixed at sequence positions (a :class:`HardSpec`). Discrete diffusion
  overwrites them before every step (exact conditioning), embedding diffusion overwrites them with
  clean embeddings after every step, edit diffusion protects (KEEP) or inserts them.
* ``"soft:embedding"`` / ``"soft:token"`` — a differentiable −log p(c | state) (:class:`SoftFn`) for
  guidance. The face is named by the state it reads — noisy latents x_t for embedding diffusion,
  token probabilities / one-hot for discrete diffusion — because a classifier over latents is of no
  use to a token backend.
* ``"check"`` — an oracle on finished text: ``satisfied(texts)`` / ``score(texts)``, for reports,
  reranking and evaluation.

**Capabilities, not type switches.** A constraint declares the faces it has (:attr:`Constraint.faces`);
a :class:`Backend` declares the faces that *steer* its generation. :meth:`Constraint.prepare`
intersects the two for every leaf of a composition and raises :class:`UnsupportedConstraintError`
(naming the backends that could use it) when a leaf has none — a constraint is never ignored
silently. The check face is always used for reports, but it steers only the ``edit`` backend (its
beam search ranks by it); a pipeline that reranks many samples may opt in with
``get_backend("discrete").with_faces(CHECK)``.

**Positions** count from ``[START]`` = 0: word k (1-based) sits at position k, and a text of n words
has ``[END]`` at position n + 1 and ``[PAD]`` after it, up to ``seq_len``.

**Words on a subword model.** Constraints always mean spaCy *words* (:func:`ctrlgen.text.tokenizer.split_words`):
``Length(n)`` counts words, ``[MASK:3]`` is three words, ``Contains`` matches words — and every check face judges
the words of the output text, whatever the tokenizer. On a subword (byte-level BPE) tokenizer word k's position is
not known in advance, so a layout (``Infill``, ``Prefix``, ``Suffix``, ``FixedTokens``, ``Length``) has no fixed
:class:`HardSpec`: :meth:`hard` validates it (:func:`compile_runs`, through :func:`ctrlgen.text.alignment.subword_runs`)
and returns ``None``, and the backend chooses each hole's subword length (and so ``[END]``'s position) per sample
from its own likelihood (:func:`ctrlgen.core.placement.place_layouts`), then conditions exactly on the result.
Nothing is out of vocabulary there (byte level), so ``allow_unk`` does nothing on such a model.
"""

from __future__ import annotations

import difflib
import logging
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from ctrlgen.errors import ConfigError, DataError
from ctrlgen.registry import (  # the face names (HARD, CHECK, ...) live in ctrlgen.registry
    BACKENDS,
    BackendSpec,
)
from ctrlgen.text.alignment import Run, subword_runs
from ctrlgen.text.tokenizer import Tokenizer, split_words
from ctrlgen.text.vocab import PAD

if TYPE_CHECKING:
    from ctrlgen.constraints.fingerprint import ModelContext

logger = logging.getLogger(__name__)

Backend = BackendSpec  # a backend's capabilities: ``name`` and the ``faces`` that steer its generation

# ------------------------------------------------------------------------------------------ errors
class ConstraintError(ConfigError):
    """A constraint is malformed or does not fit the model (vocabulary, ``seq_len``, backend)."""

    default_hint = "see the constraint's docstring for what it accepts"


class UnsupportedConstraintError(ConstraintError):
    """A constraint has no face the chosen backend can use."""


class OutOfVocabularyError(ConstraintError):
    """A constraint fixes a word the model's vocabulary does not have (and ``allow_unk`` is off)."""

    def __init__(self, message: str, hint: str | None = None, words: Sequence[str] = ()) -> None:
        super().__init__(message, hint)
        self.words = list(words)


def get_backend(backend: str | Backend) -> Backend:
    """A backend's spec by name (``"embedding"``, ``"discrete"``, ``"edit"``; :data:`ctrlgen.registry.BACKENDS`),
    or ``backend`` itself."""
    return backend if isinstance(backend, Backend) else BACKENDS.get(backend)


# -------------------------------------------------------------------------------------- hard specs
@dataclass(frozen=True)
class HardSpec:
    """Backend-neutral hard face: ``positions[p] = token id`` fixed at sequence position ``p``.

    ``unk_words[p]`` keeps the original word of a position fixed to ``[UNK]`` (``allow_unk=True``)
    so a pipeline can write it back into the decoded text. ``banned[p]``: ids a backend must not write at the free
    position ``p`` (a subword placement bans, after a fixed word, the subwords that would glue onto it). Treat the
    mappings as read-only.
    """

    seq_len: int
    positions: Mapping[int, int]
    unk_words: Mapping[int, str] = field(default_factory=dict)
    banned: Mapping[int, frozenset[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [p for p in self.positions if not 0 <= p < self.seq_len]
        if bad:
            raise ConstraintError(f"hard spec positions {sorted(bad)} are outside 0..{self.seq_len - 1}",
                                  "positions count from [START] = 0 and must be < seq_len")

    @property
    def free_positions(self) -> list[int]:
        """Positions 1..seq_len-1 left to the model (the holes); position 0 is ``[START]``."""
        return [p for p in range(1, self.seq_len) if p not in self.positions]

    def to_tensors(self, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
        """``(mask: Tensor[L] bool, values: Tensor[L] long)``; ``values`` is 0 where ``mask`` is False."""
        mask = torch.zeros(self.seq_len, dtype=torch.bool, device=device)
        values = torch.zeros(self.seq_len, dtype=torch.long, device=device)
        if self.positions:
            idx = torch.tensor(sorted(self.positions), dtype=torch.long, device=device)
            mask[idx] = True
            values[idx] = torch.tensor([self.positions[p] for p in sorted(self.positions)], device=device)
        return mask, values

    def project(self, tokens: Tensor) -> Tensor:
        """Overwrite the fixed positions: ``tokens: Tensor[..., L]`` long → same shape."""
        mask, values = self.to_tensors(tokens.device)
        return torch.where(mask, values, tokens)


def compile_words(owner: Constraint, tokenizer: Tokenizer, seq_len: int, words: Mapping[int, str],
                  n_words: int | None, allow_unk: bool) -> HardSpec:
    """The shared hard-face compiler: ``words[position] = word`` (``"[PAD]"`` allowed), plus ``[END]`` at
    ``n_words + 1`` and ``[PAD]`` after it when ``n_words`` is given (``None``: the end stays free).

    Out-of-vocabulary words raise :class:`OutOfVocabularyError` unless ``allow_unk`` (then ``[UNK]``
    with a logged warning). Raises :class:`ConstraintError` when the layout does not fit ``seq_len``.
    """
    last_word = max((p for p, w in words.items() if w != PAD), default=0)
    needed = n_words + 2 if n_words is not None else max(last_word + 2, max(words, default=0) + 1)
    if needed > seq_len:
        raise ConstraintError(f"{owner!r} needs {needed} positions ([START], the words, [END]) "
                              f"but seq_len is {seq_len}",
                              "shorten the constraint or use a model with a longer seq_len")
    vocab = tokenizer.vocab
    oov = sorted({w for w in words.values() if w not in vocab})
    if oov and not allow_unk:
        close = {w: difflib.get_close_matches(w, vocab.words, n=2) for w in oov}
        sugg = "; ".join(f"{w!r} → {' or '.join(map(repr, c))}?" for w, c in close.items() if c)
        raise OutOfVocabularyError(f"{owner!r} fixes words the vocabulary does not have: {', '.join(map(repr, oov))}",
                                   (f"{sugg}; " if sugg else "") + "use words the model knows, or pass "
                                   "allow_unk=True to fix them to [UNK]", words=oov)
    if oov:
        logger.warning("%r: out-of-vocabulary words fixed to [UNK]: %s", owner, ", ".join(oov))
    ids = {p: vocab.id(w) for p, w in words.items()}
    unk = {p: w for p, w in words.items() if w not in vocab}
    if n_words is not None:
        ids[n_words + 1] = vocab.end_id
        ids.update({p: vocab.pad_id for p in range(n_words + 2, seq_len)})
    return HardSpec(seq_len, ids, unk)


def is_subword(tokenizer: Tokenizer) -> bool:
    """Whether ``tokenizer`` may spell one word with several tokens (anything but the word level)."""
    return getattr(tokenizer, "kind", "word") != "word"


def compile_runs(owner: Constraint, tokenizer: Tokenizer, seq_len: int, words: Mapping[int, str],
                 n_words: int | None, space_before: Mapping[int, bool] | None = None) -> list[Run]:
    """The subword form of a word layout (:func:`ctrlgen.text.alignment.subword_runs`), checked to fit ``seq_len``
    with every hole at its shortest (one subword per word). Raises :class:`ConstraintError` otherwise."""
    try:
        runs = subword_runs(tokenizer, words, n_words, space_before)
    except DataError as e:
        raise UnsupportedConstraintError(f"{owner!r} cannot be served by a subword model: {e.message}",
                                         e.hint) from None
    needed = 1 + sum(r.hole + len(r.ids) for r in runs) + (n_words is None)
    if needed > seq_len:
        raise ConstraintError(f"{owner!r} needs at least {needed} positions ([START], its subwords, one per free "
                              f"word, [END]) but seq_len is {seq_len}",
                              "shorten the constraint or use a model with a longer seq_len")
    return runs


def check_words(texts: Sequence[str], words: Mapping[int, str], n_words: int | None) -> list[float]:
    """Share of the layout's conditions each text meets: ``words[p]`` is word ``p`` (1-based) of the
    text (``"[PAD]"``: the text ended before ``p - 1``), and the text has ``n_words`` words if given."""
    out = []
    for text in as_texts(texts):
        got = split_words(text)
        ok = [len(got) <= p - 2 if w == PAD else (p <= len(got) and got[p - 1] == w) for p, w in words.items()]
        if n_words is not None:
            ok.append(len(got) == n_words)
        out.append(sum(ok) / len(ok) if ok else 1.0)
    return out


def as_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise ConfigError("texts must be a list of strings, got one str", "wrap a single text in a list: [text]")
    return list(texts)


# ---------------------------------------------------------------------------------------- soft face
class SoftFn(Protocol):
    """A compiled soft face (implemented by the guidance issue).

    ``state``: noisy latents ``Tensor[B, L, d]`` (``soft:embedding``) or token probabilities
    ``Tensor[B, L, V]`` (``soft:token``); ``t: Tensor[B]`` the step. Returns −log p(c | state):
    ``Tensor[B]``, differentiable with respect to ``state``.
    """

    def __call__(self, state: Tensor, t: Tensor) -> Tensor: ...


@runtime_checkable
class WordLayout(Protocol):
    """A constraint that fixes words at word positions (``Infill``, ``Prefix``, ``Suffix``, ``FixedTokens``,
    ``Length``): what a subword model places per sample (:func:`ctrlgen.core.placement.place_layouts`)."""

    def layout(self) -> tuple[dict[int, str], int | None]: ...

    def space_before(self) -> dict[int, bool]: ...


@runtime_checkable
class WordLabelled(Protocol):
    """A constraint that asks for one label per word (``POS``): the edit backend aligns a text's labels to
    :attr:`word_labels` and rewrites the words whose labels are wrong (:mod:`ctrlgen.backends.edit.pattern`).

    ``label_words(sentences)`` labels word lists in context, one label per word, with the labeller the check
    face uses."""

    @property
    def word_labels(self) -> tuple[str, ...]: ...

    def label_words(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]: ...


# -------------------------------------------------------------------------------------- Constraint
class Constraint(ABC):
    """A constraint with up to three faces. Subclasses declare :attr:`faces` and implement those faces.

    Compose with ``a & b`` (all of), ``2.0 * c`` (weight) or a list; compile with :meth:`prepare`. The
    operators and ``prepare`` live in :mod:`.composition` with the classes they build, which attaches them
    here (importing ``ctrlgen.constraints`` imports it), so the dependency runs one way: composition → base.
    """

    @property
    @abstractmethod
    def faces(self) -> frozenset[str]:
        """The faces this constraint has (a leaf sets it as a class attribute)."""

    def hard(self, tokenizer: Tokenizer, seq_len: int) -> HardSpec | None:
        """Hard face: token ids fixed at positions, or ``None`` when it has none."""
        return None

    def soft(self, tokenizer: Tokenizer, seq_len: int, backend: Backend) -> SoftFn | None:
        """Soft face compiled for ``backend``'s state (see :class:`SoftFn`), or ``None`` (the default)."""
        return None

    def bind(self, context: ModelContext) -> Constraint:
        """The constraint ready for one model (``context``: model, diffusion, checkpoint path, tokenizer),
        called by :func:`prepare` before the soft face is compiled. Classifier-backed constraints load and
        check their classifier here (:mod:`.classifier`); the default returns ``self``."""
        return self

    def resolve(self, backend: Backend, context: ModelContext | None) -> Constraint:
        """The form that serves this constraint on ``backend`` (and the model in ``context``, when given), called by
        :func:`prepare` before the faces are matched. The default is ``self``; ``SemanticField`` becomes a placed
        phrase where the model's classifier does not know its value (:mod:`.field_phrase`)."""
        return self

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        """Check face: whether each text meets the constraint."""
        raise UnsupportedConstraintError(f"{self!r} has no check face", "it cannot judge finished text")

    def score(self, texts: Sequence[str]) -> list[float]:
        """Check face: a score in [0, 1] per text, higher is better, 1.0 when satisfied."""
        return [float(s) for s in self.satisfied(texts)]

    def judge(self, texts: Sequence[str]) -> tuple[list[bool], list[float]]:
        """Check face in one pass: ``(satisfied, scores)`` per text, each oracle run once.

        The default calls :meth:`satisfied`, and :meth:`score` only when a subclass overrides it (otherwise the
        scores are the verdicts as floats). Oracle-backed leaves (``POS``, ``SyntaxTree``, ``SyntaxSpans``)
        override it to label the texts once and derive both from the labels."""
        ok = self.satisfied(texts)
        if type(self).score is Constraint.score:
            return ok, [float(s) for s in ok]
        return ok, self.score(texts)

    def exclusive_slot(self) -> tuple[str, str, Hashable] | None:
        """``(kind, name, value)`` when the constraint sets a slot that holds one value (``SemanticField``: an
        E2E field); two leaves of one composition that give one slot different values raise
        :class:`~ctrlgen.errors.ConstraintConflictError` when composed. ``None`` (the default): no such slot."""
        return None

    def leaves(self) -> Iterator[tuple[float, Constraint]]:
        """``(weight, leaf)`` pairs of a composition; a leaf yields itself with weight 1."""
        yield 1.0, self

    if TYPE_CHECKING:  # defined in .composition (beside AllOf, Weighted, PreparedConstraint), attached there
        def prepare(self, tokenizer: Tokenizer, seq_len: int, backend: str | Backend, *,
                    model: ModelContext | None = None) -> Any: ...

        def __and__(self, other: object) -> Constraint: ...

        def __rand__(self, other: object) -> Constraint: ...

        def __mul__(self, weight: object) -> Constraint: ...

        def __rmul__(self, weight: object) -> Constraint: ...

    def __repr__(self) -> str:
        """``Name(first, option=value)`` for dataclass constraints, options only where not default."""
        try:
            fs = fields(self)  # type: ignore[arg-type]
        except TypeError:
            return object.__repr__(self)
        parts = [repr(getattr(self, fs[0].name))] if fs else []
        for f in fs[1:]:
            v = getattr(self, f.name)
            if f.repr and v != f.default:
                parts.append(f"{f.name}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"
