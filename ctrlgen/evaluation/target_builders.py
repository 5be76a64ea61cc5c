"""Builders: held-out E2E sentences → control targets (POS, length, semantic, infill, tree, spans).

The target types and their JSON-lines formats are in :mod:`.targets`; a tagger or parser is passed
in (``tag`` / ``parse``, batched: a list of word lists in, one result per list out).

Long targets (:func:`long_targets`): POS, tree and span targets from references of at least
:data:`LONG_WORDS` words (so ≥ 20 tags, trees of ≥ 20 leaves, spans on sentences of ≥ 20 words) that
still fit a model's sequence (at most ``seq_len - 2`` words: ``[START]`` and ``[END]`` take two positions).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence

from ctrlgen.errors import ConfigError, DataError
from ctrlgen.evaluation.targets import (
    InfillCase,
    LengthTarget,
    PosTarget,
    SemanticTarget,
    SpanTarget,
    TreeTarget,
    field_words,
)
from ctrlgen.oracles.metrics import TreeLike, constituent_spans
from ctrlgen.oracles.pos import POSTagger
from ctrlgen.text.e2e import E2E_FIELDS, E2EExample, read_e2e_csv
from ctrlgen.text.tokenizer import split_words

# ------------------------------------------------------------------------------------------ builders
Source = str | os.PathLike | Sequence[E2EExample]


def _examples(source: Source) -> list[E2EExample]:
    return read_e2e_csv(source) if isinstance(source, (str, os.PathLike)) else list(source)


def _pick(source: Source, n: int | None, rng: random.Random) -> list[list[str]]:
    """Words of ``n`` distinct references (all when ``n`` is None), in file order."""
    refs = list(dict.fromkeys(e.ref for e in _examples(source)))
    if n is not None:
        if n < 1:
            raise ConfigError(f"n must be >= 1, got {n}", hint="pass None to use every reference")
        refs = [refs[k] for k in sorted(rng.sample(range(len(refs)), min(n, len(refs))))]
    return [w for w in map(split_words, refs) if w]


def pos_targets(source: Source, *, n: int | None = None, seed: int = 0,
                tag: Callable[[list[list[str]]], Sequence[Sequence[str]]] | None = None) -> list[PosTarget]:
    """The UPOS tags of references (``tag``: word lists → tag lists; default the spaCy oracle)."""
    sents = _pick(source, n, random.Random(seed))
    if tag is None:
        tag = POSTagger().tag_words
    return [PosTarget(tuple(w), tuple(t)) for w, t in zip(sents, tag(sents), strict=True)]


def length_targets(source: Source, *, n: int | None = None, seed: int = 0) -> list[LengthTarget]:
    """The word counts of references (the references kept as ``words``)."""
    return [LengthTarget(len(w), tuple(w)) for w in _pick(source, n, random.Random(seed))]


def semantic_targets(source: Source, *, fields: Sequence[str] | None = None) -> list[SemanticTarget]:
    """Every distinct ``(field, value)`` of the MRs, by field (E2E order), then first appearance."""
    wanted = tuple(fields) if fields is not None else E2E_FIELDS
    for f in wanted:
        field_words(f)  # validates
    seen: dict[tuple[str, str], None] = {}
    for e in _examples(source):
        for f, v in e.mr.items():
            seen.setdefault((f, v), None)
    return [SemanticTarget(f, v) for f in wanted for (g, v) in seen if g == f]


def infill_targets(source: Source, *, n: int | None = None, seed: int = 0,
                   fraction: float = 0.3) -> list[InfillCase]:
    """One contiguous hole per reference: ``max(1, round(fraction · words))`` tokens at a random place
    that keeps at least one word on each side when the sentence allows it."""
    if not 0 < fraction < 1:
        raise ConfigError(f"fraction must be in (0, 1), got {fraction}", hint="e.g. 0.3 masks 30% of the words")
    rng = random.Random(seed)
    out = []
    for words in _pick(source, n, rng):
        m = len(words)
        k = max(1, min(m, round(fraction * m)))
        lo, hi = (1, m - k - 1) if m - k >= 2 else (0, m - k)
        a = rng.randint(lo, hi)
        out.append(InfillCase(" ".join([*words[:a], f"[MASK:{k}]", *words[a + k:]]), " ".join(words)))
    return out


Parse = Callable[[list[list[str]]], Sequence[TreeLike]]


def tree_targets(source: Source, parse: Parse, *, n: int | None = None, seed: int = 0) -> list[TreeTarget]:
    """Parses of references (``parse``: word lists → trees or bracketed strings, one per list)."""
    sents = _pick(source, n, random.Random(seed))
    return [TreeTarget(t if isinstance(t, str) else t.pformat(margin=1 << 30), tuple(w))
            for w, t in zip(sents, parse(sents), strict=True)]


def span_targets(source: Source, parse: Parse, *, n: int | None = None, seed: int = 0) -> list[SpanTarget]:
    """One constituent per reference, drawn uniformly from its parse (as Diffusion-LM's targets)."""
    rng = random.Random(seed)
    sents = _pick(source, n, rng)
    out = []
    for w, t in zip(sents, parse(sents), strict=True):
        spans = constituent_spans(t)
        if spans:
            out.append(SpanTarget(tuple(w), (rng.choice(spans),)))
    return out



# ------------------------------------------------------------------------------------------ long targets
LONG_WORDS = 20  # the "long": at least this many words (tags, leaves)
SHORT_WORDS = 15  # "short": at most this many words (the tuning targets of recipes/fluent_structure.py, too)
LONG_TASKS = ("pos", "tree", "spans")


def examples_between(source: Source, min_words: int, max_words: int) -> list[E2EExample]:
    """The rows whose reference has ``min_words`` … ``max_words`` words (``split_words``), in file order."""
    if not 1 <= min_words <= max_words:
        raise ConfigError(f"need 1 <= min_words <= max_words, got {min_words} and {max_words}",
                          hint="max_words is the model's seq_len - 2; lower min_words or use a longer model")
    return [e for e in _examples(source) if min_words <= len(split_words(e.ref)) <= max_words]


def long_targets(task: str, source: Source, *, seq_len: int, n: int | None = None, seed: int = 0,
                 min_words: int = LONG_WORDS, tag: Callable[[list[list[str]]], Sequence[Sequence[str]]] | None = None,
                 parse: Parse | None = None, max_words: int | None = None,
                 ) -> list[PosTarget] | list[TreeTarget] | list[SpanTarget]:
    """``n`` seeded ``task`` targets (``"pos"``, ``"tree"`` or ``"spans"``) from references of ``min_words`` …
    ``min(max_words, seq_len - 2)`` words (``tag`` for POS, default the spaCy oracle; ``parse`` for tree / spans).
    With ``min_words=1, max_words=SHORT_WORDS`` the same builder gives short targets."""
    if task not in LONG_TASKS:
        raise ConfigError(f"no long targets for the {task!r} task", hint=f"long targets exist for {', '.join(LONG_TASKS)}")
    top = seq_len - 2 if max_words is None else min(max_words, seq_len - 2)
    rows = examples_between(source, min_words, top)
    if not rows:
        raise DataError(f"no reference has {min_words} to {top} words",
                        hint="pass a larger CSV (e.g. valid.csv) or lower min_words")
    if task == "pos":
        return pos_targets(rows, n=n, seed=seed, tag=tag)
    if parse is None:
        raise ConfigError(f"{task} targets need a parser", hint="pass parse=Oracles().parse (benepar)")
    return (tree_targets if task == "tree" else span_targets)(rows, parse, n=n, seed=seed)
