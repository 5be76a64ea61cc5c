"""Check-guided proposals for edit decoding (see "Check-guided proposals" in :mod:`ctrlgen.backends.edit.sampler`).

The models were trained to undo noise, not to meet constraints: on a fluent text that violates one they keep
everything. For a text whose check score is below 1, :func:`explore` proposes single local edits and keeps those
that *raise* the check score:

1. one fill pass over the text with one [MASK] in place of each word (REPLACE-1) and after each slot (INSERT-1);
   its ``width`` most likely words at each placeholder, and every allowed deletion of 1–3 consecutive words, are
   candidates;
2. each given *phrase* (word ids that meet a check on their own, e.g. ``"Burger King"`` for
   ``SemanticField("near", "Burger King")``; the pipeline finds them by probing the check face) replaces 1–3
   words at every position, or is inserted after every slot (``phrases`` may be ``row -> phrases``: the pipeline
   then gives only the phrases of the leaves the text does not meet yet — a whole MR's met fields cost nothing);
3. candidates whose check score does not beat the text's are dropped; the ``keep`` best of the rest (by the first
   pass's log-prob of their first new word plus ``fluency_weight · fluency`` of the result, when a fluency
   function is given) are scored by one parallel fill pass over their new words and returned.

With a ``budget`` (an expensive check: a parse per text), only the ``budget`` likeliest word-writing proposals (by
that first-word log-prob) and every deletion are check-scored, instead of all ~``2 · width · n``.

A proposal's log-prob is the generator's log-prob of the words it writes, *not* the tagger's log-prob of its
forced tags: the tags are chosen by the check, as a hard face chooses them, and on a fluent text the tagger puts
almost no mass on any edit (REPLACE on a content word costs ~10 nats there, an insertion less), which would make
every proposal an insertion beside the word it should replace. A deletion writes nothing and costs 0; the
pipeline's fluency term (an LM on the result) then decides between proposals.

Layouts and protection hold: a proposal is only made where the slot policy allows its tags and span.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ctrlgen.backends.edit.edits import Edit, EditScript, apply_edits
from ctrlgen.backends.edit.models import MASK_ID, encode_batch
from ctrlgen.backends.edit.ops import carry, log_probs
from ctrlgen.backends.edit.types import EditCandidate, Phrases, RankFn, SpanGenerator
from ctrlgen.text.vocab import SPECIALS

_Prop = tuple[list[Edit], list[tuple[int, ...]]]  # (tags, spans) over [slot 0, words…]


def _single(n: int, k: int, tag: Edit, span: tuple[int, ...] = (), delete_next: int = 0) -> _Prop:
    tags, spans = [Edit.KEEP] * (n + 1), [()] * (n + 1)
    tags[k], spans[k] = tag, span
    for j in range(k + 1, k + 1 + delete_next):
        tags[j] = Edit.DELETE
    return tags, spans


def _ok(prop: _Prop, allowed: list[list[bool]], caps: list[int], n: int, limit: int, target: int | None) -> bool:
    tags, spans = prop
    if any(not allowed[k][t] or (caps[k] and len(s) > caps[k]) for k, (t, s) in enumerate(zip(tags, spans))):
        return False
    new_len = sum(t in (Edit.KEEP, Edit.INSERT) for t in tags[1:]) + sum(len(s) for s in spans)
    # never past the model, never away from a length to steer to
    return not (new_len > limit or target is not None and abs(new_len - target) > abs(n - target))


@torch.no_grad()
def explore(edit_generator: SpanGenerator, row: list[int], flags: Sequence[bool], tag_lp: Tensor,
            policy: tuple[list[list[bool]], list[int]], rank: RankFn, current: float, t: float, width: int, keep: int,
            phrases: Phrases, limit: int, target: int | None, device: torch.device,
            fluency: RankFn | None = None, fluency_weight: float = 0.0,
            budget: int | None = None) -> list[EditCandidate]:
    """Proposals for one text ``row`` (word ids) whose check score is ``current``; ``tag_lp: Tensor[n + 1, 4]`` are
    the tagger's log-probs over its slots (with the policy applied), ``policy = (allowed, caps)``; ``budget``: at
    most this many word-writing proposals are check-scored (module doc)."""
    n, (allowed, caps) = len(row), policy
    seqs: list[tuple[Edit, int]] = [(Edit.REPLACE, k) for k in range(1, n + 1) if allowed[k][Edit.REPLACE]]
    seqs += [(Edit.INSERT, k) for k in range(n + 1) if allowed[k][Edit.INSERT] and n + 1 <= limit]
    g_len = int(edit_generator.config.seq_len)
    first = None
    if seqs:
        masked = [apply_edits(row, EditScript(*map(tuple, _single(n, k, tag, (MASK_ID,))))) for tag, k in seqs]
        lp = log_probs(edit_generator.fill_logits(encode_batch(masked, g_len).to(device), float(t)), first=len(SPECIALS))
        where = [k + 1 if tag == Edit.INSERT else k for tag, k in seqs]  # the placeholder's index in [START] + words
        first = lp[torch.arange(len(seqs)), torch.tensor(where)].float().cpu()  # [S, V]: the placeholder's log-probs
    props: dict[tuple[int, ...], tuple[_Prop, float]] = {}

    def add(prop: _Prop, quick: float) -> None:
        if _ok(prop, allowed, caps, n, limit, target):
            ids = tuple(apply_edits(row, EditScript(tuple(prop[0]), tuple(prop[1]))))
            if ids != tuple(row) and (ids not in props or quick > props[ids][1]):
                props[ids] = (prop, quick)

    if first is not None:
        top = first.topk(min(width, first.shape[1]), dim=-1)
        for s, (tag, k) in enumerate(seqs):
            for v, w in zip(top.values[s].tolist(), top.indices[s].tolist()):
                prop = _single(n, k, tag, (int(w),))
                add(prop, v)
        for phrase in (phrases(row) if callable(phrases) else phrases):  # every placement: replacing 1-3 words, or inserted after any slot
            p = tuple(int(i) for i in phrase)
            for s, (tag, k) in enumerate(seqs):
                for extra in ((0, 1, 2) if tag == Edit.REPLACE else (0,)):
                    if k + extra <= n:
                        add(_single(n, k, tag, p, extra), float(first[s, p[0]]))
    for k in range(1, n + 1):  # deleting 1-3 words (more than one only helps a length far away)
        for extra in range(3):
            if k + extra <= n and all(allowed[j][Edit.DELETE] for j in range(k, k + extra + 1)):
                add(_single(n, k, Edit.DELETE, (), extra), 0.0)
    if not props:
        return []
    if budget is not None:  # the likeliest writing proposals and every deletion (quick 0: nothing written)
        writes = sorted((ids for ids, (prop, _) in props.items() if any(prop[1])), key=lambda ids: -props[ids][1])
        drop = set(writes[budget:])
        props = {ids: v for ids, v in props.items() if ids not in drop}
    texts = list(props)
    gains = rank([list(ids) for ids in texts])
    better = [i for i, g in enumerate(gains) if float(g) > current]
    if not better:
        return []
    if fluency is not None:  # the likeliest results first: first-word log-prob + the fluency term
        flu = fluency([list(texts[i]) for i in better])
        quick = {i: props[texts[i]][1] + fluency_weight * float(f) for i, f in zip(better, flu)}
    else:
        quick = {i: props[texts[i]][1] for i in better}
    better = sorted(better, key=lambda i: -quick[i])[:keep]
    # score the survivors like a revision: forced-tag log-prob + the parallel fill log-prob of their new words
    chosen = [props[texts[i]][0] for i in better]
    masked = [apply_edits(row, EditScript(tuple(tg), tuple((MASK_ID,) * len(s) for s in sp))) for tg, sp in chosen]
    fill = torch.zeros(len(chosen), dtype=torch.float64)
    if any(MASK_ID in m for m in masked):
        lp = log_probs(edit_generator.fill_logits(encode_batch(masked, g_len).to(device), float(t)), first=len(SPECIALS))
        for c, (m, i) in enumerate(zip(masked, better)):
            pos = [1 + j for j, x in enumerate(m) if x == MASK_ID]
            words = [w for j, w in enumerate(texts[i]) if m[j] == MASK_ID]
            fill[c] = lp[c, pos, words].sum() if pos else 0.0
    out = []
    for c, (tg, sp) in enumerate(chosen):
        script = EditScript(tuple(tg), tuple(sp))
        out.append(EditCandidate(script, texts[better[c]], float(fill[c]), carry(flags, script),
                                 True))
    return out
