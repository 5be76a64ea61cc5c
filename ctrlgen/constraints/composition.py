"""Composing constraints and compiling them for a backend.

``a & b`` is :class:`AllOf`, ``2.0 * c`` is :class:`Weighted`, and a list (or a ``"name=value"`` spec
string, see :mod:`ctrlgen.constraints.specs`) is accepted anywhere a constraint is, through
:func:`as_constraint`. Compositions flatten: ``a & (b & c)`` is ``AllOf(a, b, c)`` and
``2.0 * (a & 3.0 * b)`` has leaves ``(2.0, a), (6.0, b)``. The operators (and ``Constraint.prepare``) are
defined here, beside the classes they build, and attached to :class:`~.base.Constraint` at the end of this
module: the dependency runs one way, composition → base.

Weights scale a leaf's soft face (its guidance loss) and its check score when scores are combined;
they never relax a hard face — a fixed token is fixed whatever its weight. Two leaves that give one
single-valued slot different values (``SemanticField("food", "Chinese") & SemanticField("food", "Japanese")``)
raise :class:`~ctrlgen.errors.ConstraintConflictError` naming both when they are composed.

:func:`prepare` compiles a composition once for a model (tokenizer, ``seq_len``) and a backend: it
checks that every leaf has a face the backend can use, compiles the hard and soft faces, and merges
the hard specs (:func:`~.conflicts.merge_hard`, which raises ``ConstraintConflictError`` naming both
constraints when two fix one position differently). :meth:`PreparedConstraint.check` runs each leaf's check
face once (:meth:`~.base.Constraint.judge`) on the unique texts; ``satisfied`` and ``score`` derive from it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import Tensor

from ctrlgen.constraints.base import (
    Backend,
    Constraint,
    ConstraintError,
    HardSpec,
    SoftFn,
    UnsupportedConstraintError,
    WordLabelled,
    as_texts,
    get_backend,
    is_subword,
)
from ctrlgen.constraints.conflicts import check_slots, merge_hard
from ctrlgen.constraints.specs import parse_constraint
from ctrlgen.errors import ConfigError
from ctrlgen.registry import BACKENDS, CHECK, HARD, SOFT_FACES
from ctrlgen.text.tokenizer import Tokenizer

if TYPE_CHECKING:
    from ctrlgen.constraints.fingerprint import ModelContext

ConstraintLike = Constraint | str | Sequence["ConstraintLike"] | None
#: Backends whose constraint faces assume one token per word (the edit backend's word operations): a subword model's
#: constraints are refused there at prepare time. ``discrete``, ``masked`` and ``embedding`` place word layouts and
#: phrases on subword models (:mod:`ctrlgen.core.placement`).
WORD_LEVEL_BACKENDS = frozenset({"edit"})


def as_constraint(x: ConstraintLike) -> Constraint:
    """Normalise what a user may pass as constraints: a ``Constraint``; a list or tuple of them
    (all of); a spec string such as ``"length=14"``; or ``None`` / ``[]`` (no constraint)."""
    if isinstance(x, Constraint):
        return x
    if x is None:
        return AllOf()
    if isinstance(x, str):
        return parse_constraint(x)
    if isinstance(x, list | tuple):
        return AllOf(*x)
    raise ConfigError(f"cannot use {type(x).__name__} {x!r} as a constraint",
                      "pass a Constraint (Length(12)), a list of them, or a spec string ('length=12')")


class AllOf(Constraint):
    """All of the given constraints hold (``a & b``). ``AllOf()`` is the empty constraint."""

    def __init__(self, *constraints: ConstraintLike) -> None:
        flat: list[Constraint] = []
        for c in map(as_constraint, constraints):
            flat.extend(c.constraints if isinstance(c, AllOf) else (c,))
        self.constraints: tuple[Constraint, ...] = tuple(flat)
        check_slots(self.leaves())

    @property
    def faces(self) -> frozenset[str]:
        """Hard and soft faces of any child; the check face only when every child has one."""
        faces = frozenset().union(*(c.faces for c in self.constraints)) - {CHECK}
        return faces | ({CHECK} if all(CHECK in c.faces for c in self.constraints) else set())

    def leaves(self) -> Iterator[tuple[float, Constraint]]:
        for c in self.constraints:
            yield from c.leaves()

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        texts = as_texts(texts)
        out = [True] * len(texts)
        for c in self.constraints:
            out = [a and b for a, b in zip(out, c.satisfied(texts), strict=True)]
        return out

    def score(self, texts: Sequence[str]) -> list[float]:
        """Weighted mean of the leaves' scores (plain mean when all weights are 0)."""
        return _weighted_mean([(w, c.score(texts)) for w, c in self.leaves()], len(as_texts(texts)))

    def judge(self, texts: Sequence[str]) -> tuple[list[bool], list[float]]:
        """Every leaf judged once: all satisfied, and the weighted mean of the scores."""
        texts = as_texts(texts)
        parts = [(w, c.judge(texts)) for w, c in self.leaves()]
        ok = [all(j[0][k] for _, j in parts) for k in range(len(texts))]
        return ok, _weighted_mean([(w, j[1]) for w, j in parts], len(texts))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AllOf) and self.constraints == other.constraints

    def __hash__(self) -> int:
        return hash(("AllOf", self.constraints))

    def __repr__(self) -> str:
        return " & ".join(map(repr, self.constraints)) if self.constraints else "AllOf()"


class Weighted(Constraint):
    """``weight * constraint``: scales the soft face and the check score, never the hard face."""

    weight: float
    constraint: Constraint

    def __init__(self, weight: float, constraint: ConstraintLike) -> None:
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"a constraint weight must be a finite number >= 0, got {weight!r}",
                              "write e.g. 2.0 * SemanticField('food', 'Japanese'); 0 switches guidance off")
        inner = as_constraint(constraint)
        if isinstance(inner, Weighted):  # 2 * (3 * c) is 6 * c
            weight, inner = weight * inner.weight, inner.constraint
        self.weight, self.constraint = float(weight), inner

    @property
    def faces(self) -> frozenset[str]:
        return self.constraint.faces

    def leaves(self) -> Iterator[tuple[float, Constraint]]:
        for w, c in self.constraint.leaves():
            yield self.weight * w, c

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        return self.constraint.satisfied(texts)

    def score(self, texts: Sequence[str]) -> list[float]:
        return self.constraint.score(texts)

    def judge(self, texts: Sequence[str]) -> tuple[list[bool], list[float]]:
        return self.constraint.judge(texts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Weighted) and (self.weight, self.constraint) == (other.weight, other.constraint)

    def __hash__(self) -> int:
        return hash(("Weighted", self.weight, self.constraint))

    def __repr__(self) -> str:
        inner = repr(self.constraint)
        return f"{self.weight:g} * " + (f"({inner})" if isinstance(self.constraint, AllOf) else inner)


def _weighted_mean(parts: list[tuple[float, list[float]]], n: int) -> list[float]:
    if not parts:
        return [1.0] * n
    total = sum(w for w, _ in parts)
    ws = [w / total for w, _ in parts] if total > 0 else [1 / len(parts)] * len(parts)
    return [sum(w * s[k] for w, (_, s) in zip(ws, parts, strict=True)) for k in range(n)]


# --------------------------------------------------------------------------------------- preparing
@dataclass(frozen=True)
class Term:
    """One leaf of a prepared composition: its weight, the faces the backend steers with, its soft fn."""

    constraint: Constraint
    weight: float
    faces: frozenset[str]
    soft: SoftFn | None = None


@dataclass(frozen=True)
class CheckResult:
    """The check face of one leaf on a batch of texts."""

    constraint: Constraint
    weight: float
    satisfied: list[bool]
    scores: list[float]


@dataclass(frozen=True)
class PreparedConstraint:
    """A composition compiled for one model and backend. Stateless: reuse it across calls."""

    constraint: Constraint
    backend: Backend
    seq_len: int
    hard: HardSpec | None  # the merged hard face, None when no leaf fixes anything
    terms: tuple[Term, ...]

    @classmethod
    def for_checks(cls, constraint: ConstraintLike, backend: str | Backend) -> PreparedConstraint:
        """Every leaf of ``constraint`` with its check face only (no hard or soft face compiled): for judging texts
        drawn without some of the leaves (``Generator.best_of`` ranks by checks a backend cannot steer by)."""
        c = as_constraint(constraint)
        terms = tuple(Term(leaf, weight, leaf.faces & {CHECK}) for weight, leaf in c.leaves())
        return cls(c, get_backend(backend), 0, None, terms)

    @property
    def soft_terms(self) -> list[Term]:
        """Leaves whose soft face this backend uses (guidance sums ``weight * soft(state, t)``)."""
        return [t for t in self.terms if t.soft is not None]

    @property
    def unchecked(self) -> list[Constraint]:
        """Leaves without a check face (a plug-in classifier alone, say): no oracle can tell whether a text meets
        them, so a report never calls a text that is subject to them ``satisfied`` (see :meth:`satisfied`)."""
        return [t.constraint for t in self.terms if CHECK not in t.constraint.faces]

    def project(self, tokens: Tensor) -> Tensor:
        """Overwrite the hard-fixed positions of ``tokens: Tensor[..., L]`` (identity without a hard face)."""
        return tokens if self.hard is None else self.hard.project(tokens)

    def check(self, texts: Sequence[str]) -> list[CheckResult]:
        """Per leaf with a check face: satisfied and score for every text (for reports).

        Each leaf is judged once (:meth:`~.base.Constraint.judge`) on the unique texts, so an oracle labels each
        distinct text once per call; repeated texts share the result."""
        texts = as_texts(texts)
        index = {t: k for k, t in enumerate(dict.fromkeys(texts))}
        unique, where = list(index), [index[t] for t in texts]
        out = []
        for t in self.terms:
            if CHECK in t.constraint.faces:
                ok, scores = t.constraint.judge(unique)
                out.append(CheckResult(t.constraint, t.weight, [ok[k] for k in where], [scores[k] for k in where]))
        return out

    def satisfied(self, texts: Sequence[str]) -> list[bool | None]:
        """Per text (one :meth:`check`): ``True`` when every leaf is checked and holds, ``False`` when a checked leaf
        fails, ``None`` (unknown) when the checked ones hold but some leaf has no check face (:attr:`unchecked`)."""
        return all_satisfied(self.check(texts), len(as_texts(texts)), unchecked=bool(self.unchecked))

    def score(self, texts: Sequence[str]) -> list[float]:
        """Weighted mean of the checkable leaves' scores, per text (1.0 without any; one :meth:`check`)."""
        return combined_score(self.check(texts), len(as_texts(texts)))


def all_satisfied(results: Sequence[CheckResult], n: int, unchecked: bool = False) -> list[bool | None]:
    """Per text, whether every leaf of ``results`` (a :meth:`PreparedConstraint.check` of ``n`` texts) holds;
    with ``unchecked`` leaves beside them, a text whose checked leaves all hold is ``None`` (unknown), never True."""
    return [False if not all(r.satisfied[k] for r in results) else (None if unchecked else True) for k in range(n)]


def combined_score(results: Sequence[CheckResult], n: int) -> list[float]:
    """Per text, the weighted mean of the leaves' scores in ``results`` (1.0 without any)."""
    return _weighted_mean([(r.weight, r.scores) for r in results], n)


def prepare(constraint: ConstraintLike, tokenizer: Tokenizer, seq_len: int, backend: str | Backend, *,
            model: ModelContext | None = None) -> PreparedConstraint:
    """Compile ``constraint`` once for a model (``tokenizer``, ``seq_len``) and a backend
    (``"embedding"``, ``"discrete"``, ``"edit"`` or a :class:`Backend`).

    ``model`` (a :class:`~ctrlgen.constraints.ModelContext`) lets leaves whose soft face the backend
    uses bind to the model first (:meth:`Constraint.bind`: classifier-backed constraints load and check
    their classifier there); without it such leaves raise ``ConstraintError`` with a hint.

    Raises ``UnsupportedConstraintError`` when a leaf has no face the backend uses (the hint names the
    backends that could), ``ConstraintConflictError`` when hard faces disagree, and
    ``ConstraintError`` when a hard face does not fit the vocabulary or ``seq_len``. On a subword tokenizer it also
    refuses any constraint on the :data:`WORD_LEVEL_BACKENDS` and a word-labelling soft face (``POS``, ``SyntaxTree``,
    ``SyntaxSpans``: their classifiers read one token per word) with ``UnsupportedConstraintError``.
    """
    c = as_constraint(constraint)
    be = get_backend(backend)
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 3:
        raise ConstraintError(f"seq_len must be an int >= 3, got {seq_len!r}", "use the model's config.seq_len")
    terms, hard_items = [], []
    subword = is_subword(tokenizer)
    if subword and be.name in WORD_LEVEL_BACKENDS and any(True for _ in c.leaves()):
        raise UnsupportedConstraintError(f"the {be.name!r} backend serves constraints on word-level models only; this "
                                         f"model's tokenizer is {tokenizer.kind!r} (subwords)",
                                         "use the 'discrete', 'masked' or 'embedding' backend for a subword model, or a "
                                         "word-level checkpoint")
    for weight, leaf in c.leaves():
        validate = getattr(leaf, "validate", None)
        if callable(validate):  # a structure longer than the sequence is the input's fault on every backend
            validate(seq_len)
        leaf = leaf.resolve(be, model)
        usable = leaf.faces & be.faces
        if not usable:
            raise UnsupportedConstraintError(*_unsupported(leaf, be))
        if subword and usable & SOFT_FACES and (isinstance(leaf, WordLabelled) or hasattr(leaf, "spans")):
            raise UnsupportedConstraintError(f"{leaf!r} labels words, and its classifier reads one token per word: "
                                             "subword models do not serve it yet",
                                             "use a word-level model for POS / SyntaxTree / SyntaxSpans, or "
                                             "rerank samples by its check face (best_of)")
        soft = None
        if usable & SOFT_FACES:
            if model is not None:
                leaf = leaf.bind(model)
            soft = leaf.soft(tokenizer, seq_len, be)
            if soft is None:
                raise ConstraintError(f"{leaf!r} declares the faces {sorted(usable & SOFT_FACES)} but soft() "
                                      "returned None", "implement soft() or drop the soft face from `faces`")
        if HARD in usable:
            spec = leaf.hard(tokenizer, seq_len)
            if spec is not None:
                hard_items.append((leaf, spec))
        terms.append(Term(leaf, weight, usable, soft))
    return PreparedConstraint(c, be, seq_len, merge_hard(hard_items, tokenizer, seq_len), tuple(terms))


def _unsupported(leaf: Constraint, be: Backend) -> tuple[str, str]:
    others = [n for n in BACKENDS if leaf.faces & BACKENDS.get(n).faces and n != be.name]
    msg = (f"{leaf!r} has no face the {be.name!r} backend can use (it has {', '.join(sorted(leaf.faces)) or 'none'}; "
           f"{be.name!r} uses {', '.join(sorted(be.faces))})")
    if others:
        return msg, f"use the {' or '.join(repr(o) for o in others)} backend, or a constraint with a face {be.name!r} uses"
    return msg, f"use a constraint with one of the faces {', '.join(sorted(be.faces))}"


# ------------------------------------------------------------- the operators, attached to Constraint
def _all_of(self: Constraint, other: ConstraintLike) -> Constraint:
    return AllOf(self, other)


def _all_of_reflected(self: Constraint, other: ConstraintLike) -> Constraint:
    return AllOf(other, self)


def _weighted(self: Constraint, weight: object) -> Constraint:
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        return NotImplemented
    return Weighted(float(weight), self)


def _prepare(self: Constraint, tokenizer: Tokenizer, seq_len: int, backend: str | Backend, *,
             model: ModelContext | None = None) -> PreparedConstraint:
    """Compile once for a model and backend; see :func:`ctrlgen.constraints.prepare`."""
    return prepare(self, tokenizer, seq_len, backend, model=model)


Constraint.__and__ = _all_of  # type: ignore[method-assign]
Constraint.__rand__ = _all_of_reflected  # type: ignore[method-assign]
Constraint.__mul__ = Constraint.__rmul__ = _weighted  # type: ignore[method-assign]
Constraint.prepare = _prepare  # type: ignore[method-assign]
