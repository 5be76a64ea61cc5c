"""Pattern proposals of the edit backend: revise a text toward one label per word (``POS`` tags).

A constraint with one target label per word (:class:`~ctrlgen.constraints.WordLabelled`: ``word_labels`` and
``label_words``) says more than a check score: *which* words are wrong. The check-guided proposals of
:mod:`ctrlgen.backends.edit.explore` try one local edit at a time and rarely reach an exact tag sequence; for a
text whose labels (the constraint's own labeller, in context) differ from the target, :class:`PatternProposer`
instead

1. aligns the text's labels to the target's (a minimal Levenshtein script, :func:`~ctrlgen.backends.edit.edits.align`):
   words whose label matches are KEPT, extra words DELETED, and a [MASK] is written for every target label a
   REPLACE or INSERT span needs — the tags of one revision, chosen by the constraint as a hard face chooses them;
2. fills the placeholders left to right with the generator (a beam of ``width``), each one restricted to the
   words the lexicon allows for its label (below);
3. returns the fills as candidates (log-prob: the generator's, of the words written), which the 2D beam ranks
   by the check face and the fluency term like any other revision.

A word's label in context can differ from the lexicon's (``"Near"`` opening a sentence), so every step aligns
the kept texts again, until the check is met or the steps run out.

**Lexicon.** Which words may carry a label comes from the labeller itself: the AR drafts that the backend
probes (512, seed 0) are labelled once, and a word is allowed for every label it got in at least ``share`` of
its occurrences. Words no draft used are never proposed; a label no draft word got allows every word.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ctrlgen.backends.edit.edits import Edit, EditScript, align, apply_edits, edit_distance
from ctrlgen.backends.edit.models import MASK_ID
from ctrlgen.backends.edit.ops import carry, fill_sequential
from ctrlgen.backends.edit.types import EditCandidate, SpanGenerator
from ctrlgen.constraints.base import WordLabelled
from ctrlgen.core.lexicon import labelled
from ctrlgen.text.vocab import Vocabulary

Policy = tuple[list[list[bool]], list[int]]  # (allowed[k][tag], span cap per slot; 0 = none), see slot_policy


class PatternProposer:
    """Proposals toward the labels of ``leaves`` (WordLabelled constraints) for one loaded edit model, each with
    its lexicon (:func:`ctrlgen.core.lexicon.build_lexicon`). Called by the sampler as ``proposer(rows, flags, policies, t)`` →
    candidates per row; a beam of ``width`` fills per row."""

    def __init__(self, leaves: Sequence[WordLabelled], lexicons: Sequence[dict[str, Tensor]],
                 edit_generator: SpanGenerator, vocab: Vocabulary, device: torch.device, width: int = 4) -> None:
        self.leaves, self.allowed, self.generator, self.vocab = list(leaves), list(lexicons), edit_generator, vocab
        self.device, self.width = device, width

    def _words(self, rows: Sequence[Sequence[int]]) -> list[list[str]]:
        return [[self.vocab.word(i) for i in r] for r in rows]

    def draft_mask(self, seq_len: int) -> Tensor | None:
        """``BoolTensor[seq_len, V]`` for the AR draft model (:meth:`ARLM.sample`'s ``allowed``): at word ``j`` the
        words the lexicons allow for every leaf's ``j``-th label (any word where they share none), then
        ``[END]``; ``None`` when the leaves ask for different lengths or the labels do not fit ``seq_len``."""
        lengths = {len(leaf.word_labels) for leaf in self.leaves}
        if len(lengths) != 1 or (m := lengths.pop()) + 2 > seq_len:
            return None
        mask = torch.ones(seq_len, len(self.vocab), dtype=torch.bool)
        for j in range(m):
            row = torch.ones(len(self.vocab), dtype=torch.bool)
            for leaf, lexicon in zip(self.leaves, self.allowed, strict=True):
                words = lexicon.get(leaf.word_labels[j])
                row &= words if words is not None else True
            mask[1 + j] = row if bool(row.any()) else True
            mask[1 + j, self.vocab.end_id] = False
        mask[m + 1] = False
        mask[m + 1, self.vocab.end_id] = True
        return mask

    def closeness(self, rows: Sequence[Sequence[int]]) -> list[float]:
        """Per row, the mean over leaves of ``1 − label edit distance / max(len)``: 1 = the labels match."""
        out = [0.0] * len(rows)
        for leaf in self.leaves:
            target = list(leaf.word_labels)
            for r, labels in enumerate(labelled(leaf, self._words(rows))):
                out[r] += 1 - edit_distance(*_as_ints(labels, target)) / max(len(labels), len(target))
        return [v / len(self.leaves) for v in out]

    def __call__(self, rows: Sequence[Sequence[int]], flags: Sequence[Sequence[bool]], policies: Sequence[Policy],
                 t: float) -> list[list[EditCandidate]]:
        """Candidates per row (none for a row whose labels already match, or whose script the policy forbids)."""
        jobs: list[tuple[int, list[Edit], list[int], list[Tensor | None]]] = []  # (row, tags, span lengths, masks)
        for leaf, allowed in zip(self.leaves, self.allowed):
            target = list(leaf.word_labels)
            for h, labels in enumerate(labelled(leaf, self._words(rows))):
                if labels == target:
                    continue
                src, tgt = _as_ints(labels, target)
                script = align(src, tgt)
                names = {v: k for k, v in zip(labels + target, src + tgt)}
                tags, spans = list(script.tags), [[names[v] for v in s] for s in script.spans]
                if _permitted(tags, spans, policies[h]):
                    jobs.append((h, tags, [len(s) for s in spans], [allowed.get(x) for s in spans for x in s]))
        out: list[list[EditCandidate]] = [[] for _ in rows]
        if not jobs:
            return out
        masked = [apply_edits(rows[h], EditScript(tuple(tags), tuple((MASK_ID,) * n for n in lens)))
                  for h, tags, lens, _ in jobs]
        with torch.no_grad():
            fills = fill_sequential(self.generator, masked, t, self.width, self.device, [m for *_, m in jobs])
        for (h, tags, lens, _), m, options in zip(jobs, masked, fills):
            for ids, lp in options:
                new = iter([w for w, x in zip(ids, m) if x == MASK_ID])
                script = EditScript(tuple(tags), tuple(tuple(next(new) for _ in range(n)) for n in lens))
                out[h].append(EditCandidate(script, tuple(ids), float(lp), carry(flags[h], script), True))
        return out


def _as_ints(a: Sequence[str], b: Sequence[str]) -> tuple[list[int], list[int]]:
    """Two label sequences as ids of one shared label table (for :func:`align`)."""
    table: dict[str, int] = {}
    return [table.setdefault(x, len(table)) for x in a], [table.setdefault(x, len(table)) for x in b]


def _permitted(tags: Sequence[Edit], spans: Sequence[Sequence[str]], policy: Policy) -> bool:
    allowed, caps = policy
    return all(allowed[k][tag] and not (caps[k] and len(s) > caps[k]) for k, (tag, s) in enumerate(zip(tags, spans)))


def pattern_leaves(constraints: Sequence[object]) -> list[WordLabelled]:
    """The leaves that name one label per word."""
    return [c for c in constraints if isinstance(c, WordLabelled)]

