"""Start texts and reports of the edit backend (:mod:`ctrlgen.backends.edit.generator`): hard faces → layout, projecting a
bootstrap text onto the layout, AR drafts ranked by the check face, and readable edit operations."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ctrlgen.backends.edit.edits import Edit, align
from ctrlgen.backends.edit.joint import words_of
from ctrlgen.backends.edit.models import MASK_ID
from ctrlgen.backends.edit.ops import device_of, fill_sequential
from ctrlgen.backends.edit.types import EditLayout
from ctrlgen.constraints.base import HardSpec
from ctrlgen.constraints.contains import Contains
from ctrlgen.errors import SamplingError
from ctrlgen.text.tokenizer import split_words
from ctrlgen.text.vocab import Vocabulary


def layout_of(hard: HardSpec | None, vocab: Vocabulary) -> tuple[dict[int, int], EditLayout | None]:
    """``(fixed words {position: id}, layout)`` of a merged hard face (``None``: no hard face).

    ``[END]`` at ``p`` sets the length to ``p − 1`` words; a ``[PAD]`` without an ``[END]`` (the text ended
    before ``p``) caps the length at ``p − 2`` words, which the edit backend steers to like a length. Fixed words
    pin every position up to the last of them."""
    if hard is None:
        return {}, None
    fixed = {p: i for p, i in hard.positions.items() if i not in (vocab.end_id, vocab.pad_id)}
    ends = [p for p, i in hard.positions.items() if i == vocab.end_id]
    pads = [p for p, i in hard.positions.items() if i == vocab.pad_id]
    length = ends[0] - 1 if ends else (min(pads) - 2 if pads else None)
    return fixed, EditLayout(pinned=max(fixed, default=0), length=length)


def project(start: Sequence[int], fixed: dict[int, int], layout: EditLayout | None) -> list[int]:
    """A start text (word ids) made to fit the layout: the fixed words written at their positions, the holes
    up to the last fixed position (and up to the length, when words are fixed and the length is known) made
    [MASK] placeholders for the generator to fill; a length-only layout leaves the text to length steering."""
    if not fixed or layout is None:
        return list(start)
    last = layout.pinned if layout.length is None else layout.length
    out = [MASK_ID] * last if layout.length is not None else [MASK_ID] * last + list(start[last:])
    for p, i in fixed.items():
        out[p - 1] = i
    return out


def fill_masks(tagger: Any, edit_generator: Any, rows: list[list[int]], t: float, k: int = 1) -> list[list[list[int]]]:
    """Per row, the ``k`` best left-to-right fills of its [MASK] placeholders (rows without one come back as is)."""
    if not any(MASK_ID in r for r in rows):
        return [[list(r)] for r in rows]
    with torch.no_grad():
        beams = fill_sequential(edit_generator, rows, t, k, device_of(tagger))
    return [[ids for ids, _ in b] for b in beams]


Score = Callable[[list[list[int]]], list[float]]


def draft_starts(ar: Any, n: int, per_sample: int, generator: torch.Generator, score: Score | None, limit: int,
                 allowed: torch.Tensor | None = None, top_p: float = 1.0, cheap: Score | None = None,
                 shortlist: int = 16) -> tuple[list[list[int]], list[float]]:
    """``n`` AR drafts (word ids): per sample the best of ``per_sample`` drafts by the check score ``score`` (ties:
    the first drawn), or the first draft without one; ``allowed`` (``BoolTensor[L, V]``) restricts the words the
    draft model may write at each position. Returns ``(drafts, their check scores)``.

    Two-stage ranking with ``cheap`` (e.g. a slot check plus fluency): per sample only its ``shortlist`` best
    drafts by ``cheap`` (ties: the first drawn) are scored by ``score`` (a tagger, a parser); the others cannot
    be chosen."""
    with torch.no_grad():
        rows = [words_of(r)[:limit] for r in ar.sample(n * per_sample, generator=generator, allow_unk=False,
                                                       allowed=allowed, top_p=top_p)]
    if score is None:
        scores = [1.0] * len(rows)
    elif cheap is None:
        scores = score(rows)
    else:
        first = cheap(rows)
        keep = sorted(k for s in range(n) for k in sorted(range(s * per_sample, (s + 1) * per_sample),
                                                           key=lambda i: (-first[i], i))[:shortlist])
        scores = [-math.inf] * len(rows)
        for k, v in zip(keep, score([rows[k] for k in keep]), strict=True):
            scores[k] = v
    out, best = [], []
    for s in range(n):
        group = range(s * per_sample, (s + 1) * per_sample)
        j = max(group, key=lambda i: (scores[i], -i))
        out.append(rows[j])
        best.append(float(scores[j]))
    return out, best


def output_words(source_words: Sequence[str], source_ids: Sequence[int], ids: Sequence[int], vocab: Vocabulary) -> list[str]:
    """The words of ``ids``, with the source's own spelling for the source words that were kept (so a word
    outside the vocabulary, read as [UNK], comes back as written)."""
    script = align(source_ids, ids)
    out = [vocab.word(i) for i in script.spans[0]]
    for word, tag, span in zip(source_words, script.tags[1:], script.spans[1:]):
        if tag in (Edit.KEEP, Edit.INSERT):
            out.append(word)
        out.extend(vocab.word(i) for i in span)
    return out


def unknown_words(source_words: Sequence[str], source_ids: Sequence[int], ids: Sequence[int],
                  vocab: Vocabulary) -> list[dict[str, Any]]:
    """The words of ``ids`` that the models read as ``[UNK]`` and that come back as the source wrote them:
    ``[{"position": k, "word": "…"}]`` with ``k`` the 1-based word of the output (see :func:`output_words`)."""
    words = output_words(source_words, source_ids, ids, vocab)
    return [{"position": k + 1, "word": w} for k, (i, w) in enumerate(zip(ids, words))
            if i == vocab.unk_id and w != vocab.word(i)]


class SourceSpelling:
    """A decoder for :func:`ctrlgen.core.output.build_output` (``vocab`` and ``decode_batch`` as the tokenizer's):
    row ``j`` of the ids is decoded with ``sources[j]``'s own spelling of the source words it kept
    (:func:`output_words`), so a word the vocabulary lacks comes back as written, never as ``[UNK]``; an
    ``[UNK]`` at a position in ``unk_words`` (hard faces with ``allow_unk``) is spelled as the constraint wrote it."""

    def __init__(self, tokenizer: Any, sources: Sequence[tuple[Sequence[str], Sequence[int]]]) -> None:
        self.tokenizer, self.vocab, self.sources = tokenizer, tokenizer.vocab, list(sources)

    def decode_batch(self, ids: torch.Tensor, unk_words: dict[int, str] | None = None) -> list[str]:
        """``ids: LongTensor[n, L]`` (``[START] words [END] [PAD]…``, one row per source) → n texts."""
        rows = [words_of(r) for r in ids.tolist()]
        if len(rows) != len(self.sources):
            raise SamplingError(f"{len(rows)} rows of ids for {len(self.sources)} source texts",
                                "pass one (words, ids) source per output row")
        out = []
        for row, (words, src) in zip(rows, self.sources):
            spelled = output_words(words, src, row, self.vocab)
            if unk_words:
                spelled = [unk_words.get(k + 1, w) if i == self.vocab.unk_id else w
                           for k, (i, w) in enumerate(zip(row, spelled))]
            out.append(self.tokenizer.detokenize(spelled))
        return out


def describe(source_words: Sequence[str], source_ids: Sequence[int], ids: Sequence[int],
             vocab: Vocabulary) -> list[dict[str, Any]]:
    """The net edit operations from the source to ``ids`` (a minimal Levenshtein script), readable:
    ``{"op": "replace" | "delete" | "insert", "position": k, "old": "…", "new": "…"}``, where ``position`` is the
    1-based source word (0: before the first word) and an insert goes after it."""
    script, ops = align(source_ids, ids), []
    for k, (tag, span) in enumerate(zip(script.tags, script.spans)):
        new = " ".join(vocab.word(i) for i in span)
        old = source_words[k - 1] if k else ""
        if tag == Edit.REPLACE:
            ops.append({"op": "replace", "position": k, "old": old, "new": new})
        elif tag == Edit.DELETE:
            ops.append({"op": "delete", "position": k, "old": old, "new": ""})
        elif tag == Edit.INSERT:
            ops.append({"op": "insert", "position": k, "old": "", "new": new})
    return _merge_runs(ops)


def _merge_runs(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join a replace followed by deletes of the next words into one multi-word replace (as a user reads it)."""
    out: list[dict[str, Any]] = []
    for op in ops:
        prev = out[-1] if out else None
        if prev and op["op"] == "delete" and prev["op"] in ("replace", "delete") and \
                op["position"] == prev["position"] + len(prev["old"].split()):
            prev["old"] = f"{prev['old']} {op['old']}".strip()
            continue
        out.append(dict(op))
    return out


def probe_phrases(leaves: Sequence[Any], rows: Sequence[Sequence[int]], vocab: Vocabulary, detok: Callable[[list[str]], str],
                  max_words: int = 4, top: int = 3) -> list[list[int]]:
    """Phrases for the proposals, found through the check face alone: for each ``leaf`` (a constraint), the
    shortest word windows (≤ ``max_words``) of the ``rows`` (e.g. AR drafts) that meet it on their own — for
    ``SemanticField("near", "Burger King")`` that is "Burger King" — the ``top`` most frequent per leaf.
    Checks about a whole text (length, syntax) find none, and then nothing is proposed from here."""
    out: list[list[int]] = []
    texts = [detok([vocab.word(i) for i in r]) for r in rows]
    for leaf in leaves:
        found: Counter[tuple[int, ...]] = Counter()
        for r, ok in zip(rows, leaf.satisfied(texts)):
            if not ok:
                continue
            for m in range(1, max_words + 1):
                windows = [tuple(r[k:k + m]) for k in range(len(r) - m + 1)]
                hits = [w for w, good in zip(windows, leaf.satisfied([detok([vocab.word(i) for i in w]) for w in windows]))
                        if good]
                if hits:
                    found.update(set(hits))
                    break
        out += [list(p) for p, _ in found.most_common(top)]
    return out


def contains_phrases(prepared: Any, vocab: Vocabulary) -> list[list[int]]:
    """The word ids of every phrase of the ``Contains`` leaves of ``prepared`` (empty without one); a word the
    vocabulary lacks is read as ``[UNK]`` (the leaf's own ``allow_unk`` check ran at prepare time)."""
    if prepared is None:
        return []
    return [vocab.ids(split_words(p)) for t in prepared.terms if isinstance(t.constraint, Contains)
            for p in t.constraint.phrases]


def _make_room(cur: list[int], placed: list[tuple[int, int]], size: int) -> tuple[list[int], list[tuple[int, int]]]:
    """``cur`` cut to at most ``size`` words by dropping its last words outside the ``placed`` phrases (``(start,
    length)`` pairs, shifted to match); as many as possible when the phrases alone are longer."""
    cur, placed = list(cur), list(placed)
    while len(cur) > max(size, 0):
        keep = {a + j for a, z in placed for j in range(z)}
        free = [p for p in range(len(cur)) if p not in keep]
        if not free:
            break
        drop = free[-1]
        cur.pop(drop)
        placed = [(a - (a > drop), z) for a, z in placed]
    return cur, placed


def insert_phrases(rows: Sequence[Sequence[int]], phrases: Sequence[Sequence[int]], limit: int,
                   score: Callable[[list[list[int]]], list[float]] | None = None,
                   replace: int = 0) -> tuple[list[list[int]], list[set[int]]]:
    """The *insertion start* for ``Contains`` on the edit backend: each row with every phrase it lacks placed at the
    best-scoring word boundary, for the revision loop to repair the sentence around it.

    A phrase already in the row (as a contiguous run) is left where it is. Otherwise every boundary 0 … len(row)
    is tried — and, with ``replace`` > 0 and a ``score``, every run of 1 … ``replace`` words outside the phrases
    placed so far is tried as a span the phrase *replaces* (a draft's own name where a new name goes: "Blue Phoenix
    is a pub" rather than "Blue Phoenix The Punter is a pub") — and the candidates are ranked by ``score`` (``rows
    -> higher is better``, e.g. the AR draft model's mean log-prob per word plus the check; without one the end of
    the row); ties go to the insertion, then to the earlier position. A row that would exceed ``limit`` words loses
    words from its end first (never inside a placed phrase). Returns ``(rows, inserted)``: ``inserted[b]`` holds the
    1-based positions of the phrase words of row b (placed here or found), for the caller to protect."""
    out, where = [], []
    for row in rows:
        cur, placed = list(row), []
        for ph in map(list, phrases):
            k = len(ph)
            found = next((s for s in range(len(cur) - k + 1) if cur[s:s + k] == ph), None)
            if found is None:
                cur, placed = _make_room(cur, placed, limit - k)  # candidates must fit: the scorer reads ≤ limit words
                taken = {a + j for a, z in placed for j in range(z)}
                spans = [(s, 0) for s in range(len(cur) + 1)]  # (start, words replaced): insertions first
                if score is not None:
                    spans += [(s, m) for m in range(1, replace + 1) for s in range(len(cur) - m + 1)
                              if not taken.intersection(range(s, s + m))]
                cands = [cur[:s] + ph + cur[s + m:] for s, m in spans]
                scores = score(cands) if score is not None else [float(s == len(cur)) for s, _ in spans]
                best = max(range(len(cands)), key=lambda c: (scores[c], -c))
                found, gone = spans[best]
                placed = [(a + k - gone if a >= found else a, z) for a, z in placed]  # later phrases shift
                cur = cands[best]
            placed.append((found, k))
        keep = {a + j for a, z in placed for j in range(z)}
        while len(cur) > limit and len(keep) < len(cur):  # drop the last word outside the phrases
            drop = max(p for p in range(len(cur)) if p not in keep)
            cur.pop(drop)
            keep = {p - (p > drop) for p in keep}
        out.append(cur)
        where.append({p + 1 for p in keep})
    return out, where
