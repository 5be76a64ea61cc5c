"""Composite control tasks (Diffusion-LM Table 4): ``semantic+pos`` and ``semantic+tree``.

A composite target asks for a semantic field value *and* a syntax target at once. Builders take both
parts from the **same** held-out reference: an ``field = value`` of its meaning representation whose
value occurs in the reference as a run of whole words (:func:`~ctrlgen.evaluation.semantic_success`),
and the oracle's POS tags / parse tree of that reference. The reference itself satisfies both parts,
so every target is jointly satisfiable (the ``reference`` method scores 100 on every column).

Records (JSON lines) are the syntax part's record with the semantic part's record under ``"semantic"``:

- ``semantic+pos``: ``{"semantic": ["food", ":", "Italian"], "pos": ["START", …, "END"], "words_": [...]}``
- ``semantic+tree``: ``{"semantic": ["Type", ":", "pub"], "tree": "(TOP (S …))", "words_": [...]}``

Scoring reports each part with its own task's metric, computed exactly as that task does
(:mod:`.tasks`): ``semantic_success`` and ``pos_match`` / ``tree_f1`` (plus ``tree_f1_punct`` and
``tree_length_errors``), and a ``joint`` column, the headline: per sample, the syntax score *if* the
value is mentioned and 0 otherwise (``pos_match`` or the sample's own tree F1), averaged over a
target's samples then over targets. It needs no threshold; where a sample's syntax score is 0 or 1 it
is the share of samples satisfying both parts. For trees the per-sample F1 is a sentence-level F1 (not
the per-target corpus F1 of ``tree_f1``), and samples the parser returned with another number of words
are skipped, as in ``tree_f1``. Guidance sums both classifiers' losses (``SemanticField(...) & POS(...)``,
see :func:`~ctrlgen.evaluation.guided.constraints_for`).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ctrlgen.errors import ConfigError, DataError
from ctrlgen.evaluation.target_builders import Parse, Source, _examples
from ctrlgen.evaluation.targets import TARGET_KINDS, PosTarget, SemanticTarget, TreeTarget, field_words
from ctrlgen.evaluation.tasks import TASKS, TITLES, Task, Texts, _flat, _split_back, fitted_parses, macro, tree_scores
from ctrlgen.oracles.bundle import Oracles
from ctrlgen.oracles.metrics import _as_tree, bracket_counts, pos_match, semantic_success
from ctrlgen.oracles.pos import POSTagger
from ctrlgen.text.e2e import E2E_FIELDS
from ctrlgen.text.tokenizer import split_words


# ------------------------------------------------------------------------------------------ targets
@dataclass(frozen=True)
class _Composite:
    """A semantic part and a syntax part (``part``: the syntax target class) to satisfy together."""

    kind: ClassVar[str] = ""
    part: ClassVar[type] = object
    example: ClassVar[Any] = None
    semantic: SemanticTarget
    syntax: Any

    def __post_init__(self) -> None:
        if not isinstance(self.semantic, SemanticTarget) or not isinstance(self.syntax, self.part):
            raise DataError(f"a {self.kind} target needs a SemanticTarget and a {self.part.__name__}, got "
                            f"{type(self.semantic).__name__} and {type(self.syntax).__name__}",
                            hint=f"e.g. {type(self).__name__}(SemanticTarget('food', 'Italian'), "
                                 f"{self.part.__name__}(...))")

    @property
    def words(self) -> tuple[str, ...]:
        """The source sentence (the syntax part's words)."""
        return tuple(self.syntax.words)

    def to_record(self) -> dict[str, Any]:
        return {"semantic": self.semantic.to_record(), **self.syntax.to_record()}

    @classmethod
    def from_record(cls, rec: Any) -> Any:
        return cls(SemanticTarget.from_record(rec["semantic"]), cls.part.from_record(rec))


@dataclass(frozen=True)
class SemanticPosTarget(_Composite):
    """A field value to mention and the UPOS tags to follow."""

    kind: ClassVar[str] = "semantic+pos"
    part: ClassVar[type] = PosTarget
    example: ClassVar[Any] = {"semantic": ["food", ":", "Italian"],
                              "pos": ["START", "PROPN", "AUX", "DET", "ADJ", "NOUN", "END"],
                              "words_": ["START", "Zizzi", "is", "an", "Italian", "pub", "END"]}


@dataclass(frozen=True)
class SemanticTreeTarget(_Composite):
    """A field value to mention and the constituency tree to follow."""

    kind: ClassVar[str] = "semantic+tree"
    part: ClassVar[type] = TreeTarget
    example: ClassVar[Any] = {"semantic": ["Type", ":", "pub"], "tree": "(S (NP (DT The) (NN pub)))",
                              "words_": ["START", "The", "pub", "END"]}


CompositeTarget = SemanticPosTarget | SemanticTreeTarget
COMPOSITE_KINDS: dict[str, type[_Composite]] = {c.kind: c for c in (SemanticPosTarget, SemanticTreeTarget)}
TARGET_KINDS.update(COMPOSITE_KINDS)


# ------------------------------------------------------------------------------------------ builder
Tag = Callable[[list[list[str]]], Sequence[Sequence[str]]]


def composite_targets(source: Source, kind: str, *, n: int | None = None, seed: int = 0,
                      fields: Sequence[str] | None = None, tag: Tag | None = None,
                      parse: Parse | None = None) -> list[Any]:
    """``kind`` (``"semantic+pos"`` / ``"semantic+tree"``) targets from held-out references.

    Each distinct reference (file order; its first row's MR) whose MR has a value of ``fields``
    (default: every E2E field) occurring in it as whole words is a candidate; ``n`` candidates are
    drawn with ``random.Random(seed)`` (kept in file order; all when ``None``), then one such field
    value per reference, uniformly with the same generator. The syntax part is the reference's tags
    (``tag``; default the spaCy oracle) or parse (``parse``, required for trees)."""
    if kind not in COMPOSITE_KINDS:
        raise ConfigError(f"unknown composite kind {kind!r}", hint=f"kinds are {', '.join(COMPOSITE_KINDS)}")
    wanted = tuple(fields) if fields is not None else E2E_FIELDS
    for f in wanted:
        field_words(f)  # validates
    rng = random.Random(seed)
    rows: dict[str, dict[str, str]] = {}
    for e in _examples(source):
        rows.setdefault(e.ref, e.mr)
    cands = []
    for ref, mr in rows.items():
        words = split_words(ref)
        pairs = [(f, v) for f, v in mr.items() if f in wanted and split_words(v) and semantic_success(ref, v)]
        if words and pairs:
            cands.append((words, pairs))
    if n is not None:
        if n < 1:
            raise ConfigError(f"n must be >= 1, got {n}", hint="pass None to use every reference")
        cands = [cands[k] for k in sorted(rng.sample(range(len(cands)), min(n, len(cands))))]
    sems = [SemanticTarget(*rng.choice(pairs)) for _, pairs in cands]
    sents = [words for words, _ in cands]
    if kind == "semantic+pos":
        if tag is None:
            tag = POSTagger().tag_words
        parts: list[Any] = [PosTarget(tuple(w), tuple(t)) for w, t in zip(sents, tag(sents), strict=True)]
    else:
        if parse is None:
            raise ConfigError("semantic+tree targets need a parser", hint="pass parse= (Oracles().parse)")
        parts = [TreeTarget(t if isinstance(t, str) else t.pformat(margin=1 << 30), tuple(w))
                 for w, t in zip(sents, parse(sents), strict=True)]
    cls = COMPOSITE_KINDS[kind]
    return [cls(s, p) for s, p in zip(sems, parts, strict=True)]


# ------------------------------------------------------------------------------------------ scorers
def _mentions(targets: Sequence[Any], texts: Texts) -> list[list[float]]:
    return [[float(semantic_success(t, g.semantic.value)) for t in ts] for g, ts in zip(targets, texts, strict=True)]


def score_semantic_pos(targets: Sequence[Any], texts: Texts, oracles: Oracles) -> dict[str, float]:
    tags = _split_back(oracles.tag([split_words(t) for t in _flat(texts)]), texts)
    match = [[pos_match(p, g.syntax.tags) for p in ps] for g, ps in zip(targets, tags, strict=True)]
    sem = _mentions(targets, texts)
    joint = [[s * m for s, m in zip(ss, ms, strict=True)] for ss, ms in zip(sem, match, strict=True)]
    return {"joint": macro(joint), "semantic_success": macro(sem), "pos_match": macro(match)}


def score_semantic_tree(targets: Sequence[Any], texts: Texts, oracles: Oracles) -> dict[str, float | None]:
    syntax = [g.syntax for g in targets]
    trees = fitted_parses(syntax, texts, oracles)
    sem = _mentions(targets, texts)
    joint = []
    for g, preds, ss in zip(syntax, trees, sem, strict=True):
        gold, scored = _as_tree(g.tree), []
        for p, s in zip(preds, ss, strict=True):
            try:
                scored.append(s * bracket_counts(p, gold, punct_tags=()).f1)
            except DataError:  # the parse changed the number of words: skipped, as in tree_f1
                pass
        if scored:
            joint.append(statistics.fmean(scored))
    return {"joint": 100 * statistics.fmean(joint) if joint else None, "semantic_success": macro(sem),
            **tree_scores(syntax, trees)}


# ---------------------------------------------------------------------------------------- the tasks
def _words_needed(g: Any) -> int:
    return max(len(g.semantic.value_words), len(g.syntax.words))


for _task in (
    Task("semantic+pos", "semantic+pos", ("joint", "semantic_success", "pos_match"), ("tagger",),
         score_semantic_pos, _words_needed),
    Task("semantic+tree", "semantic+tree", ("joint", "semantic_success", "tree_f1"), ("parser",),
         score_semantic_tree, _words_needed),
):
    TASKS.register(_task.name, _task)
TITLES["joint"] = "joint %"
