"""Pure helpers of edit decoding (:mod:`ctrlgen.backends.edit.sampler`): which edits a slot allows, joint k-best
choices, fitting a revision to the length limits, left-to-right fills, and protection bookkeeping.
Nothing here holds state."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ctrlgen.backends.edit.edits import Edit, EditScript
from ctrlgen.backends.edit.models import MASK_ID, encode_batch
from ctrlgen.backends.edit.types import (
    EditCandidate,
    EditLayout,
    Protect,
    SpanGenerator,
    Tagger,
)
from ctrlgen.errors import SamplingError
from ctrlgen.text.vocab import SPECIALS

SPAN_TAGS = (Edit.REPLACE, Edit.INSERT)


def device_of(model: Tagger) -> torch.device:
    try:
        return next(model.parameters()).device  # type: ignore[attr-defined]
    except (AttributeError, StopIteration):  # a parameter-free test double
        return torch.device("cpu")


def word_limit(tagger: Tagger, edit_generator: SpanGenerator) -> int:
    """The most words a text may have: both models read ``[START] words [END]`` within their ``seq_len``."""
    try:
        return min(int(tagger.config.seq_len), int(edit_generator.config.seq_len)) - 2
    except AttributeError:
        raise SamplingError("the tagger and the generator need a config.seq_len",
                            "pass an EditTagger and an EditGenerator (or modules with such a config)") from None


def log_probs(logits: Tensor, allowed: Tensor | None = None, first: int = 0) -> Tensor:
    """log-softmax over the classes in ``allowed`` (broadcast to ``logits``) from ``first`` on; NaN counts as −inf
    and a row with no finite allowed logit is uniform over the allowed classes."""
    x = logits.double().nan_to_num(nan=-math.inf, posinf=1e30)
    ok = torch.arange(x.shape[-1], device=x.device) >= first
    ok = ok if allowed is None else allowed & ok
    x = x.masked_fill(~ok, -math.inf)
    dead = ~torch.isfinite(x).any(-1, keepdim=True)
    return torch.where(dead & ok, torch.zeros_like(x), x).log_softmax(-1)


# ------------------------------------------------------------------------------------------- the layout
def slot_policy(n: int, protected: Sequence[bool], layout: EditLayout | None) -> tuple[list[list[bool]], list[int]]:
    """For a text of ``n`` words: ``allowed[k][tag]`` and the longest span ``max_span[k]`` (0 = no limit) of every
    slot ``k = 0..n`` under protection and ``layout`` (see :class:`EditLayout`)."""
    allowed = [[True] * len(Edit) for _ in range(n + 1)]
    caps = [0] * (n + 1)
    allowed[0][Edit.DELETE] = allowed[0][Edit.REPLACE] = False  # slot 0 is no word
    lay = layout or EditLayout()
    for k in range(n + 1):
        if k < lay.pinned:  # positions up to `pinned` stay in place
            allowed[k][Edit.INSERT] = False
            if k >= 1:
                allowed[k][Edit.DELETE] = False
            caps[k] = 1
        if lay.length is not None:
            if n >= lay.length:
                allowed[k][Edit.INSERT] = False
                caps[k] = 1
            if n <= lay.length and k >= 1:
                allowed[k][Edit.DELETE] = False
        if protected[k]:
            allowed[k] = [True, False, False, False]
    return allowed, caps


def fit(tags: list[Edit], lengths: list[int], n: int, limit: int, layout: EditLayout | None) -> tuple[list[Edit], list[int]]:
    """Fit a revision of a text of ``n`` words to ``limit`` words and the layout's length: drop placeholders from
    the right-most spans while the text would be too long (an emptied INSERT becomes KEEP, an emptied REPLACE
    DELETE), and undo the right-most deletions while it would be shorter than a length it started above."""
    target = None if layout is None else layout.length
    upper = min(limit, target) if target is not None and n <= target else limit
    new_len = sum(tag in (Edit.KEEP, Edit.INSERT) for tag in tags[1:]) + sum(lengths)
    excess = new_len - upper
    for i in range(len(tags) - 1, -1, -1):
        if excess <= 0:
            break
        cut = min(excess, lengths[i])
        lengths[i], excess = lengths[i] - cut, excess - cut
        if cut and lengths[i] == 0:
            tags[i] = Edit.KEEP if tags[i] == Edit.INSERT else Edit.DELETE
    if target is not None and n >= target:
        deficit = target - (sum(tag in (Edit.KEEP, Edit.INSERT) for tag in tags[1:]) + sum(lengths))
        for i in range(len(tags) - 1, 0, -1):
            if deficit <= 0:
                break
            if tags[i] == Edit.DELETE:
                tags[i], deficit = Edit.KEEP, deficit - 1
    return tags, lengths


# -------------------------------------------------------------------------------------- joint choices
def k_best(lp: Tensor, k: int) -> list[tuple[list[int], float]]:
    """The ``k`` best joint choices over independent positions, ``lp: Tensor[P, C]`` log-probs (exact: a top-k
    joint choice has a top-k prefix); ``[(classes: P ints, summed log-prob)]``, best first."""
    if lp.shape[0] == 0:
        return [([], 0.0)]
    lp = lp.detach().cpu()
    scores, choice = torch.zeros(1, dtype=torch.float64), torch.zeros(1, 0, dtype=torch.long)
    for row in lp:
        tot = (scores[:, None] + row[None, :]).flatten()
        kk = min(k, int(torch.isfinite(tot).sum()))
        top = tot.sort(descending=True, stable=True).indices[:kk]
        choice = torch.cat([choice[top // lp.shape[1]], (top % lp.shape[1])[:, None]], 1)
        scores = tot[top]
    return list(zip(choice.tolist(), scores.tolist()))


def nucleus(lp: Tensor, k: int, top_p: float, generator: torch.Generator | None) -> list[tuple[list[int], float]]:
    """``k`` draws per position from the smallest set of classes with mass ≥ ``top_p``, scored by the unfiltered
    log-probs ``lp: Tensor[P, C]``."""
    if lp.shape[0] == 0:
        return [([], 0.0)]
    probs, order = lp.exp().sort(dim=-1, descending=True, stable=True)
    probs = probs * ((probs.cumsum(-1) - probs) < top_p)
    keep = torch.zeros_like(probs).scatter(-1, order, probs)
    draws = torch.multinomial(keep, k, replacement=True, generator=generator)  # [P, k]
    return [(draws[:, j].tolist(), float(lp.gather(-1, draws[:, j:j + 1]).sum())) for j in range(k)]


# -------------------------------------------------------------------------------------- bookkeeping
def prune(pool: list[tuple], k: int) -> list[tuple]:
    """The ``k`` best entries (last field: the score) per text (first field); ties keep their order."""
    pool = sorted(pool, key=lambda e: -e[-1])
    count: dict[int, int] = {}
    out = []
    for e in pool:
        if count.get(e[0], 0) < k:
            out.append(e)
            count[e[0]] = count.get(e[0], 0) + 1
    return out


def distinct(cands: list[EditCandidate], k: int | None) -> list[EditCandidate]:
    """The first ``k`` (all if None) candidates with distinct texts."""
    seen: set[tuple[int, ...]] = set()
    out = [c for c in cands if not (c.ids in seen or seen.add(c.ids))]  # type: ignore[func-returns-value]
    return out if k is None else out[:k]


def carry(flags: Sequence[bool], script: EditScript) -> tuple[bool, ...]:
    """Protection flags over [slot 0, words…] after ``script``: kept words keep theirs, new words are free."""
    out = [bool(flags[0])] + [False] * len(script.spans[0])
    for f, tag, span in zip(flags[1:], script.tags[1:], script.spans[1:]):
        out += ([bool(f)] if tag in (Edit.KEEP, Edit.INSERT) else []) + [False] * len(span)
    return tuple(out)


def start_flags(protect: Protect, rows: list[list[int]]) -> list[list[bool]]:
    """Flags over [slot 0, words…] of each start text from positions (a tensor or collections)."""
    if isinstance(protect, Tensor):
        if protect.dtype != torch.bool or protect.dim() not in (1, 2) or protect.dim() == 2 and protect.shape[0] != len(rows):
            raise SamplingError(f"protect must be a BoolTensor[L] or [B = {len(rows)}, L], got {protect.dtype} "
                                f"{tuple(protect.shape)}", "e.g. the mask of HardSpec.to_tensors()")
        protect = [torch.nonzero(m).flatten().tolist() for m in protect.expand(len(rows), -1).cpu()]
    protect = [()] * len(rows) if protect is None else protect
    if not isinstance(protect, Sequence) or len(protect) != len(rows) or any(int(p) < 0 for ps in protect for p in ps):
        raise SamplingError(f"protect needs one collection of positions ≥ 0 per sample ({len(rows)})",
                            "pass e.g. [{1, 2}, set()] (word k at position k), a BoolTensor or a predicate on ids")
    return [[k in {int(p) for p in ps} for k in range(len(r) + 1)] for r, ps in zip(rows, protect)]


# --------------------------------------------------------------------------------------------- filling
def fill_sequential(edit_generator: SpanGenerator, rows: list[list[int]], t: float, k: int,
                    device: torch.device, allowed: Sequence[Sequence[Tensor | None]] | None = None
                    ) -> list[list[tuple[list[int], float]]]:
    """Fill the [MASK]s of each row (word ids with placeholders) left to right, one word per pass, keeping the
    ``k`` best partial fills per row by summed log-prob (a beam search through the placeholders, so a span's
    words see each other, as DiffusER's autoregressive span generator does). Never writes a special id.
    ``allowed[i][m]`` (``BoolTensor[V]`` or ``None`` = any word) restricts the ``m``-th placeholder of row ``i``;
    a row whose placeholders allow nothing comes back empty. Returns per row up to ``k`` ``(ids, log-prob)``,
    best first."""
    seq_len = int(edit_generator.config.seq_len)
    beams: list[list[tuple[list[int], float]]] = [[(list(r), 0.0)] for r in rows]
    holes = [r.count(MASK_ID) for r in rows]
    while True:
        todo = [(i, j) for i, b in enumerate(beams) for j, (ids, _) in enumerate(b) if MASK_ID in ids]
        if not todo:
            return beams
        x = encode_batch([beams[i][j][0] for i, j in todo], seq_len).to(device)
        lp = log_probs(edit_generator.fill_logits(x, float(t)), first=len(SPECIALS))
        new: list[list[tuple[list[int], float]]] = [[e for e in b if MASK_ID not in e[0]] for b in beams]
        for m, (i, j) in enumerate(todo):
            ids, s = beams[i][j]
            pos = ids.index(MASK_ID)
            row_lp = lp[m, pos + 1]  # +1: [START] comes first
            mask = allowed[i][holes[i] - ids.count(MASK_ID)] if allowed is not None else None
            if mask is not None:
                row_lp = row_lp.masked_fill(~mask.to(row_lp.device), -math.inf)
            top = row_lp.topk(min(k, lp.shape[-1]))
            for v, w in zip(top.values.tolist(), top.indices.tolist()):
                if math.isfinite(v):
                    new[i].append((ids[:pos] + [int(w)] + ids[pos + 1:], s + v))
        beams = [sorted(b, key=lambda e: -e[1])[:k] for b in new]
