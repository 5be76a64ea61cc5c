"""Revision decoding for edit diffusion (DiffusER), with 2D beam search and KEEP-protected tokens.

One *revision* of a text x_t (word ids, no specials) at step ``t`` runs three passes, top to bottom:
1. **tags** — the tagger labels slot 0 and every word KEEP / DELETE / REPLACE / INSERT (slot 0: KEEP or
   INSERT only; protected slots: KEEP only);
2. **lengths** — the generator's length pass gives a span length (1..max_span) to every REPLACE/INSERT slot;
   if the text would outgrow the models (``min(seq_len) - 2`` words), the excess placeholders are dropped from
   the right-most spans first (an emptied INSERT becomes KEEP, an emptied REPLACE becomes DELETE);
3. **fill** — the generator's fill pass writes a word at every placeholder; special ids ([PAD], [START],
   [END], [UNK], [MASK]) are never written, so they never reach an output (a [UNK] already in the start text
   is a word like any other).
Choices inside a pass are independent per position. ``decoding`` picks them: ``"greedy"`` (argmax),
``"beam"`` (the exact ``b`` best joint choices of a pass, then the ``b`` best per text after each pass) or
``"nucleus"`` (``b`` draws per position set from the smallest set of classes with mass ≥ ``top_p``).

**Scoring (2D beam).** A candidate revision scores log p_tag(tags) + log p_len(lengths | tags) + log p_fill(words)
under the models (nucleus draws are scored by the unfiltered probabilities; a clipped candidate keeps the
tag and length log-probs of the choices before clipping). ``beam = (r, b)`` keeps ``r`` texts per sample; each
is expanded into up to ``b`` candidates, so up to ``r·b`` per sample, deduplicated by text (the better path
wins). A candidate's **score** is its path's log-likelihood — the sum of its revisions' log-probs over all
steps so far — plus ``rank_weight · rank(ids)`` when a ``rank`` callable is given (the pipeline passes the
constraints' check face; the rank term is not accumulated over steps). The ``r`` best scores survive each step,
and the best one is the output. ``(1, 1)`` is plain greedy / nucleus decoding.

**Steps.** A sample stops when a step leaves its set of kept texts unchanged (with ``r = 1``: the revision
changed nothing), or after ``max_steps``. The step index ``t`` fed to both models counts down:
``t_schedule = T`` gives ``T, T − 1, …, 1`` and then stays at 1; a sequence gives its entries in order and then
repeats its last one. Start from the training T for an empty text, and lower (e.g. 2–4) for a source or
draft text that needs few edits. The sampler is a frozen dataclass: state lives in the call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from torch import Tensor

from ..diffusion.edits import Edit, EditScript, apply_edits
from ..errors import SamplingError
from ..models.edit_models import MASK_ID, encode_batch
from ..text.vocab import SPECIALS, UNK

RankFn = Callable[[list[list[int]]], list[float]]  # word ids of candidates -> one score each (higher is better)
Protect = Tensor | Sequence[Collection[int]] | Callable[[int], bool] | None
_NOT_IN_INPUT = frozenset(range(len(SPECIALS))) - {SPECIALS.index(UNK)}
_SPAN_TAGS = (Edit.REPLACE, Edit.INSERT)


class Tagger(Protocol):
    """An :class:`~ctrlgen.models.EditTagger` or a module like it: ``config.seq_len`` and
    ``tagger(x: LongTensor[H, L], t) -> Tensor[H, L, 4]`` logits."""

    config: Any

    def __call__(self, ids: Tensor, t: float) -> Tensor: ...


class SpanGenerator(Protocol):
    """An :class:`~ctrlgen.models.EditGenerator` or a module like it: ``config.seq_len``,
    ``length_logits(x, tags: LongTensor[H, L], t) -> Tensor[H, L, S + 1]`` and
    ``fill_logits(x, t) -> Tensor[H, L, V]``."""

    config: Any

    def length_logits(self, ids: Tensor, tags: Tensor, t: float) -> Tensor: ...

    def fill_logits(self, fill_ids: Tensor, t: float) -> Tensor: ...


@dataclass(frozen=True)
class EditCandidate:
    """One candidate revision of one text: ``apply_edits(source, edits) == list(ids)``."""

    edits: EditScript
    ids: tuple[int, ...]
    log_prob: float  # tag + length + fill log-probs of this revision
    protected: tuple[bool, ...]  # len(ids) + 1 flags over [slot 0, words…], carried through the edits


@dataclass
class EditStepOutput:
    candidates: list[list[EditCandidate]]  # per input text, up to b candidates, best log_prob first


@dataclass
class EditRevision:
    """One step of the output's trajectory (the chain of revisions that led to each final text)."""

    t: float  # step index fed to the models
    edits: list[EditScript]  # per sample, applied to the previous step's ids (the start ids at step 0)
    ids: list[list[int]]  # per sample, after the step (a stopped sample repeats its text with keep-all edits)
    log_probs: list[float]  # per sample, the path's log-likelihood so far


@dataclass
class EditSampleOutput:
    ids: list[list[int]]  # final word ids per sample (no specials written by the sampler)
    log_probs: list[float]  # log-likelihood of each output's revision path
    scores: list[float]  # log_probs + rank_weight * rank (equal to log_probs without rank)
    steps: list[int]  # revisions run per sample before it stopped
    trajectory: list[EditRevision] = field(default_factory=list)  # per step; empty unless asked for


@dataclass
class _Hyp:  # one kept text of one sample (internal to a sample() call)
    ids: tuple[int, ...]
    protected: tuple[bool, ...]
    log_prob: float
    score: float
    history: tuple[tuple[float, EditScript, tuple[int, ...], float], ...] = ()


@dataclass(frozen=True, kw_only=True)
class EditSampler:
    """Keyword-only configuration of revision decoding (no state); see the module docstring."""

    max_steps: int = 12  # revisions at most (DiffusER: ~12, most of the gain in the first 10)
    decoding: Literal["greedy", "beam", "nucleus"] = "greedy"  # choices inside one revision
    top_p: float = 0.6  # nucleus mass (DiffusER: 0.6); used by decoding = "nucleus" only
    beam: tuple[int, int] = (1, 1)  # (r revisions kept, b candidates per revision); DiffusER's 2D beam: (3, 5)
    rank_weight: float = 1.0  # weight of rank(ids) in a candidate's score (checks score in [0, 1]; raise it
    # so constraint satisfaction outweighs likelihood differences of a few nats)

    def __post_init__(self) -> None:
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps <= 0:
            raise SamplingError(f"max_steps must be > 0, got {self.max_steps!r}", "pass an int such as max_steps=12")
        if self.decoding not in ("greedy", "beam", "nucleus"):
            raise SamplingError(f"unknown decoding {self.decoding!r}", "choose 'greedy', 'beam' or 'nucleus'")
        beam = tuple(self.beam) if isinstance(self.beam, (tuple, list)) else ()
        if len(beam) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in beam):
            raise SamplingError(f"beam must be two ints ≥ 1 (r, b), got {self.beam!r}", "e.g. beam=(3, 5); (1, 1) is no beam")
        object.__setattr__(self, "beam", beam)
        if self.decoding == "greedy" and beam[1] != 1:
            raise SamplingError(f"greedy decoding makes one candidate per revision, got b = {beam[1]}",
                                "use decoding='beam' (or 'nucleus') for b > 1")
        if not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            raise SamplingError(f"top_p must be in (0, 1], got {self.top_p!r}", "DiffusER uses 0.6")
        if not (isinstance(self.rank_weight, (int, float)) and math.isfinite(self.rank_weight)):
            raise SamplingError(f"rank_weight must be a finite number, got {self.rank_weight!r}", "e.g. 1.0 or 10.0")

    def timesteps(self, t_schedule: int | Sequence[float]) -> list[float]:
        """The ``max_steps`` step indices fed to the models (see the module docstring)."""
        if isinstance(t_schedule, int) and not isinstance(t_schedule, bool):
            ts = [float(t) for t in range(t_schedule, 0, -1)]
        else:
            ts = [float(t) for t in t_schedule] if isinstance(t_schedule, Sequence) else []
        if not ts or any(not math.isfinite(t) or t <= 0 for t in ts):
            raise SamplingError(f"t_schedule must be an int T ≥ 1 or a non-empty sequence of steps > 0, got {t_schedule!r}",
                                "pass the corruption's number of steps, e.g. 12 (a source text: fewer, e.g. 3)")
        return (ts + ts[-1:] * self.max_steps)[:self.max_steps]

    # ------------------------------------------------------------------------------------------ one step
    @torch.no_grad()
    def step(self, tagger: Tagger, edit_generator: SpanGenerator, ids: Sequence[Sequence[int]], t: float,
             generator: torch.Generator | None = None,
             protected: Sequence[Sequence[bool]] | None = None) -> EditStepOutput:
        """One revision of each of the H texts in ``ids`` (word ids) at step ``t``: up to ``b`` candidates each.
        ``protected[h]`` has ``len(ids[h]) + 1`` flags over [slot 0, words…]; a flagged slot is tagged KEEP."""
        k, per = self.beam[1], (self.beam[1] if self.decoding == "beam" else 1)
        rows = [[int(i) for i in r] for r in ids]
        flags = [list(p) for p in protected] if protected is not None else [[False] * (len(r) + 1) for r in rows]
        if len(flags) != len(rows) or any(len(f) != len(r) + 1 for f, r in zip(flags, rows)):
            raise SamplingError("protected needs len(ids[h]) + 1 flags per text", "flags cover [slot 0, words…]")
        limit, device, g_len = _limit(tagger, edit_generator), _device(tagger), int(edit_generator.config.seq_len)
        x = encode_batch(rows, int(tagger.config.seq_len)).to(device)
        allowed = torch.ones(*x.shape, len(Edit), dtype=torch.bool, device=device)
        allowed[:, 0, [Edit.DELETE, Edit.REPLACE]] = False  # slot 0 is no word
        for h, f in enumerate(flags):
            allowed[h, [i for i, p in enumerate(f) if p], 1:] = False  # protected: KEEP only
        tag_lp = _log_probs(tagger(x, float(t)), allowed)
        # 1. tags: up to k per text
        hyps = [(h, tags, s) for h, r in enumerate(rows) for tags, s in self._choose(tag_lp[h, :len(r) + 1], k, generator)]
        # 2. span lengths at REPLACE/INSERT slots (≥ 1), clipped to the models' length; the k best per text
        tag_t = torch.zeros(len(hyps), g_len, dtype=torch.long, device=device)
        for m, (_, chosen, _) in enumerate(hyps):
            tag_t[m, :len(chosen)] = torch.tensor(chosen, device=device)
        xg = encode_batch(rows, g_len).to(device)[[h for h, _, _ in hyps]]
        len_lp = _log_probs(edit_generator.length_logits(xg, tag_t, float(t)), first=1)  # a span has ≥ 1 id
        pool: list[tuple[int, list[Edit], list[int], float]] = []
        for m, (h, chosen, s) in enumerate(hyps):
            slots = [i for i, tag in enumerate(chosen) if tag in _SPAN_TAGS]
            for lens, s2 in self._choose(len_lp[m, slots], per, generator):
                lengths = [0] * len(chosen)
                for i, n in zip(slots, lens):
                    lengths[i] = n
                pool.append((h, *_clip([Edit(v) for v in chosen], lengths, limit), s + s2))
        pool = _prune(pool, k)
        # 3. a word at every placeholder (never a special id); the k best distinct texts per text
        fills = [apply_edits(rows[h], EditScript(tuple(tags), tuple((MASK_ID,) * n for n in lengths)))
                 for h, tags, lengths, _ in pool]
        fill_lp = tag_lp.new_zeros(len(fills), 1, 1)
        if any(MASK_ID in f for f in fills):  # else every candidate only keeps and deletes: no pass needed
            fill_x = encode_batch(fills, g_len).to(device)
            fill_lp = _log_probs(edit_generator.fill_logits(fill_x, float(t)), first=len(SPECIALS))
        out: list[list[EditCandidate]] = [[] for _ in rows]
        for m, (h, tags, lengths, s) in enumerate(pool):
            where = [1 + j for j, i in enumerate(fills[m]) if i == MASK_ID]  # +1: [START] comes first
            for words, s3 in self._choose(fill_lp[m, where], per, generator):
                it = iter(words)
                script = EditScript(tuple(tags), tuple(tuple(next(it) for _ in range(n)) for n in lengths))
                out[h].append(EditCandidate(script, tuple(apply_edits(rows[h], script)), s + s3,
                                            _carry(flags[h], script)))
        return EditStepOutput([_distinct(sorted(c, key=lambda c: -c.log_prob), k) for c in out])

    def _choose(self, lp: Tensor, k: int, generator: torch.Generator | None) -> list[tuple[list[int], float]]:
        """``k`` joint choices over independent positions, ``lp: Tensor[P, C]`` log-probs: the k best (greedy,
        beam) or k draws (nucleus); ``[(classes: P ints, summed log-prob)]``."""
        if lp.shape[0] == 0:
            return [([], 0.0)]
        if self.decoding == "nucleus":
            probs, order = lp.exp().sort(dim=-1, descending=True, stable=True)
            probs = probs * ((probs.cumsum(-1) - probs) < self.top_p)  # smallest set with mass ≥ top_p
            keep = torch.zeros_like(probs).scatter(-1, order, probs)
            draws = torch.multinomial(keep, k, replacement=True, generator=generator)  # [P, k]
            return [(draws[:, j].tolist(), float(lp.gather(-1, draws[:, j:j + 1]).sum())) for j in range(k)]
        lp = lp.detach().cpu()
        scores, choice = torch.zeros(1, dtype=torch.float64), torch.zeros(1, 0, dtype=torch.long)
        for row in lp:  # exact k-best: a top-k joint choice has a top-k prefix
            tot = (scores[:, None] + row[None, :]).flatten()
            kk = min(k, int(torch.isfinite(tot).sum()))
            top = tot.sort(descending=True, stable=True).indices[:kk]
            choice = torch.cat([choice[top // lp.shape[1]], (top % lp.shape[1])[:, None]], 1)
            scores = tot[top]
        return list(zip(choice.tolist(), scores.tolist()))

    # ------------------------------------------------------------------------------------------ the loop
    @torch.no_grad()
    def sample(self, tagger: Tagger, edit_generator: SpanGenerator, start_ids: Sequence[Sequence[int]],
               t_schedule: int | Sequence[float], generator: torch.Generator | None = None, protect: Protect = None,
               rank: RankFn | None = None, return_trajectory: bool = False, progress: bool = False) -> EditSampleOutput:
        """Revise each text of ``start_ids`` (word ids without [START]/[END]: ``[]``, a source text or a draft)
        until it stops changing or for ``max_steps`` revisions.

        ``protect`` marks tokens that are never changed (their tag is forced to KEEP, so nothing is inserted
        right after them either): a ``BoolTensor[L]`` or ``[B, L]`` or, per sample, a collection of positions,
        both in the model layout (0 = slot 0, so protecting it forbids inserting at the start; word k at
        position k, as in ``HardSpec``; positions past the text, e.g. [END]/[PAD], are ignored); protected
        words are tracked through the edits. Or a predicate on token ids, applied at every step.
        ``rank(ids_of_candidates) -> scores`` is added (× ``rank_weight``) to candidate scores. ``generator``
        drives nucleus draws (on the models' device). Models keep their train/eval mode (call ``.eval()``)."""
        limit, n = _limit(tagger, edit_generator), len(start_ids)
        if n == 0:
            raise SamplingError("start_ids is empty", "pass one list of word ids per sample ([] to start from nothing)")
        rows = [[int(i) for i in r] for r in start_ids]
        for b, r in enumerate(rows):
            if len(r) > limit or _NOT_IN_INPUT.intersection(r) or min(r, default=0) < 0:
                raise SamplingError(f"start_ids[{b}] has {len(r)} ids (at most {limit} fit) or a special/negative id",
                                    "pass word ids without [START]/[END]/[PAD]/[MASK] (tokenizer.encode(text)[1:-1])")
        predicate = protect if callable(protect) else None
        flags = _start_flags(protect, rows) if predicate is None else [[False] * (len(r) + 1) for r in rows]
        hyps = [[_Hyp(tuple(r), tuple(f), 0.0, 0.0)] for r, f in zip(rows, flags)]
        steps, done, ts = [0] * n, [False] * n, self.timesteps(t_schedule)
        from tqdm.auto import tqdm

        for t in tqdm(ts, disable=not progress, desc="revising", leave=False):
            active = [s for s in range(n) if not done[s]]
            if not active:
                break
            flat = [(s, h) for s in active for h in hyps[s]]
            prot = [tuple(p or (predicate is not None and k > 0 and bool(predicate(h.ids[k - 1])))
                          for k, p in enumerate(h.protected)) for _, h in flat]
            out = self.step(tagger, edit_generator, [h.ids for _, h in flat], t, generator, prot)
            pools: dict[int, dict[tuple[int, ...], _Hyp]] = {s: {} for s in active}
            for (s, h), cands in zip(flat, out.candidates):
                for c in cands:
                    lp = h.log_prob + c.log_prob
                    hist = h.history + ((t, c.edits, c.ids, lp),) if return_trajectory else ()
                    if c.ids not in pools[s] or lp > pools[s][c.ids].log_prob:
                        pools[s][c.ids] = _Hyp(c.ids, c.protected, lp, lp, hist)
            if rank is not None:  # one call for every candidate of every active sample
                flat_h = [h for pool in pools.values() for h in pool.values()]
                scores = rank([list(h.ids) for h in flat_h])
                if not isinstance(scores, Sequence | Tensor) or len(scores) != len(flat_h) or \
                        not all(math.isfinite(float(v)) for v in scores):
                    raise SamplingError(f"rank returned {type(scores).__name__} for {len(flat_h)} candidates",
                                        "rank(list of id lists) must return one finite float per candidate")
                for h, v in zip(flat_h, scores):
                    h.score = h.log_prob + self.rank_weight * float(v)
            for s in active:
                new = sorted(pools[s].values(), key=lambda h: -h.score)[:self.beam[0]]
                steps[s] += 1
                done[s] = {h.ids for h in new} == {h.ids for h in hyps[s]}
                hyps[s] = new
        best = [max(hs, key=lambda h: h.score) for hs in hyps]
        trajectory = []
        for j in range(max(steps) if return_trajectory else 0):
            rec = [h.history[j] if j < len(h.history) else (0.0, EditScript.keep_all(len(h.ids)), h.ids, h.log_prob)
                   for h in best]
            trajectory.append(EditRevision(ts[j], [r[1] for r in rec], [list(r[2]) for r in rec], [r[3] for r in rec]))
        return EditSampleOutput([list(h.ids) for h in best], [h.log_prob for h in best], [h.score for h in best],
                                steps, trajectory)


# ---------------------------------------------------------------------------------------------- helpers
def _device(model: Tagger) -> torch.device:
    try:
        return next(model.parameters()).device  # type: ignore[attr-defined]
    except (AttributeError, StopIteration):  # a parameter-free test double
        return torch.device("cpu")


def _limit(tagger: Tagger, edit_generator: SpanGenerator) -> int:
    """The most words a text may have: both models read ``[START] words [END]`` within their ``seq_len``."""
    try:
        return min(int(tagger.config.seq_len), int(edit_generator.config.seq_len)) - 2
    except AttributeError:
        raise SamplingError("the tagger and the generator need a config.seq_len",
                            "pass an EditTagger and an EditGenerator (or modules with such a config)") from None


def _log_probs(logits: Tensor, allowed: Tensor | None = None, first: int = 0) -> Tensor:
    """log-softmax over the classes in ``allowed`` (broadcast to ``logits``) from ``first`` on; NaN counts as −inf
    and a row with no finite allowed logit is uniform over the allowed classes."""
    x = logits.double().nan_to_num(nan=-math.inf, posinf=1e30)
    ok = torch.arange(x.shape[-1], device=x.device) >= first
    ok = ok if allowed is None else allowed & ok
    x = x.masked_fill(~ok, -math.inf)
    dead = ~torch.isfinite(x).any(-1, keepdim=True)
    return torch.where(dead & ok, torch.zeros_like(x), x).log_softmax(-1)


def _clip(tags: list[Edit], lengths: list[int], limit: int) -> tuple[list[Edit], list[int]]:
    """Drop placeholders from the right-most spans until the text has at most ``limit`` words."""
    excess = sum(tag in (Edit.KEEP, Edit.INSERT) for tag in tags[1:]) + sum(lengths) - limit
    for i in range(len(tags) - 1, -1, -1):
        if excess <= 0:
            break
        cut = min(excess, lengths[i])
        lengths[i], excess = lengths[i] - cut, excess - cut
        if cut and lengths[i] == 0:
            tags[i] = Edit.KEEP if tags[i] == Edit.INSERT else Edit.DELETE
    return tags, lengths


def _prune(pool: list[tuple], k: int) -> list[tuple]:
    """The ``k`` best entries (last field: the score) per text (first field); ties keep their order."""
    pool = sorted(pool, key=lambda e: -e[-1])
    return [e for i, e in enumerate(pool) if sum(f[0] == e[0] for f in pool[:i]) < k]


def _distinct(cands: list[EditCandidate], k: int) -> list[EditCandidate]:
    """The first ``k`` candidates with distinct texts."""
    seen: set[tuple[int, ...]] = set()
    return [c for c in cands if not (c.ids in seen or seen.add(c.ids))][:k]  # type: ignore[func-returns-value]


def _carry(flags: Sequence[bool], script: EditScript) -> tuple[bool, ...]:
    """Protection flags over [slot 0, words…] after ``script``: kept words keep theirs, new words are free."""
    out = [bool(flags[0])] + [False] * len(script.spans[0])
    for f, tag, span in zip(flags[1:], script.tags[1:], script.spans[1:]):
        out += ([bool(f)] if tag in (Edit.KEEP, Edit.INSERT) else []) + [False] * len(span)
    return tuple(out)


def _start_flags(protect: Protect, rows: list[list[int]]) -> list[list[bool]]:
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
