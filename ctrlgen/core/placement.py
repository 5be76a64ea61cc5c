"""Per-sample phrase placement, shared by the backends that fix words (``Contains``'s hard face).

A ``Contains`` leaf has no fixed slot: its phrase goes where the backend's own model finds it likely, sampled per
sample (:meth:`ctrlgen.constraints.contains.Contains.place`). This module is the backend-independent part: it
collects the leaves, works out the positions already taken (START and the merged hard face) and the last
position a word may take, places the leaves one after another (a later leaf sees the earlier ones' words) and
returns one :class:`~ctrlgen.constraints.base.HardSpec` per sample with the placed words only. The backend
supplies the score — the model's log-likelihood of the phrase at each start given the taken tokens:

- ``discrete``: the chain rule of the absorbing score at full noise
  (:meth:`ctrlgen.backends.discrete.generator.DiscreteGenerator.placement_score`);
- ``embedding``: the factorised clean-token prediction x̂0 = f(x_T, T) read through the rounding head
  (:meth:`ctrlgen.backends.embedding.generator.EmbeddingGenerator.placement_score`, :mod:`ctrlgen.constraints.phrase_math`)

and then conditions on the placed words exactly as on any hard face (projection / clamped latents).

**Word layouts on a subword model** (:func:`place_layouts`): ``Infill``, ``Prefix``, ``Suffix``, ``FixedTokens`` and
``Length`` fix words at *word* positions, which have no known subword position, so their hard face is ``None`` there
and the layouts are placed here, before the phrases, with the same score: :mod:`ctrlgen.core.subword_layout` turns
the merged layout into runs, scores every combination of hole lengths (k words: k … 3k subwords) by the chain rule of
the backend's ``score`` plus a length prior p(m | k), and each sample draws its layout from the posterior over the
complete ones, p ∝ exp(score) (as a phrase's start is drawn), with per-position word-boundary bans that make each hole
of k words hold exactly k words. ``Contains`` phrases placed after the layout may land in a hole; the bans stay (and
reach the sample's final constraints through :func:`place_phrases`) when that cannot change the hole's word count
(:func:`one_word_holes`: every hole is one whole-word subword per word — the default prior — and the sample's phrases
took one subword per word), and are dropped otherwise (a phrase's extra subwords in a hole would break its word
boundaries; the check face judges such texts as they are). ``[PAD]`` fills the positions after a placed ``[END]``.
A backend therefore supplies one function, the ``PlacementScore`` of ``Contains``, and gets subword layouts for free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from ctrlgen.constraints.base import ConstraintError, HardSpec, is_subword
from ctrlgen.constraints.composition import PreparedConstraint
from ctrlgen.constraints.contains import Contains, PlacementScore
from ctrlgen.core.contract import OnBatch, emit_batch, merge_batches
from ctrlgen.core.output import GenerationOutput, build_output
from ctrlgen.core.subword_layout import Hole, hole_bans, layout_runs, search_runs
from ctrlgen.registry import HARD
from ctrlgen.text.alignment import ends_word, glue_ids
from ctrlgen.text.tokenizer import Tokenizer, split_words


def placed_leaves(prepared: PreparedConstraint | None) -> list[Contains]:
    """The leaves whose hard face the backend uses and that place their words per sample (``Contains``)."""
    if prepared is None:
        return []
    return [t.constraint for t in prepared.terms if isinstance(t.constraint, Contains) and HARD in t.faces]


def last_word_position(taken: Mapping[int, int], tokenizer: Tokenizer, seq_len: int) -> int:
    """The last position a word may take: before the first fixed ``[END]`` / ``[PAD]``, else ``seq_len − 2``."""
    vocab = tokenizer.vocab
    return min([p - 1 for p, i in taken.items() if i in (vocab.end_id, vocab.pad_id)], default=seq_len - 2)


def place_phrases(prepared: PreparedConstraint | None, tokenizer: Tokenizer, seq_len: int, base: Mapping[int, int],
                  n: int, score: PlacementScore, generator: torch.Generator | None = None) -> list[HardSpec] | None:
    """Per-sample placements of the word layouts (subword models: :func:`place_layouts`) and then the ``Contains``
    leaves of ``prepared`` for ``n`` samples, or ``None`` without any.

    ``base`` (position → id): the tokens fixed for every sample (START at 0 and the merged hard face); each leaf's
    :meth:`~ctrlgen.constraints.contains.Contains.place` scores its starts with ``score`` given ``base``, the
    sample's layout and the leaves placed before it, and samples one per sample with ``generator``. Returns one
    ``HardSpec`` per sample holding only the placed tokens (not ``base``), with the ``[UNK]`` words to write back
    (``allow_unk``) and, on a subword model, the bans: its layout's hole bans where no phrase landed (when
    :func:`place_layouts` kept them and the sample's phrases took one subword per word: a phrase at the text's start
    may take more, ``p`` ``ub``) and the glue bans of :func:`with_glue_bans`. Raises ``ConstraintError`` (before
    any sampling) when a layout or phrase has no room."""
    layouts = place_layouts(prepared, tokenizer, seq_len, base, n, score, generator)
    leaves = placed_leaves(prepared)
    if not leaves:
        return None if layouts is None else with_glue_bans(layouts, base, tokenizer)
    taken = [dict(base) if layouts is None else {**base, **layouts[k].positions} for k in range(n)]
    last = [last_word_position(t, tokenizer, seq_len) for t in taken]
    unk: list[dict[int, str]] = [{} for _ in range(n)]
    whole = [True] * n  # sample k's phrases took one subword per word: its layout's hole bans stay valid
    for leaf in leaves:
        specs = leaf.place(tokenizer, seq_len, taken, last, score, generator)
        words = sum(len(split_words(p)) for p in leaf.phrases)
        for k, spec in enumerate(specs):
            taken[k].update(spec.positions)
            unk[k].update(spec.unk_words)
            whole[k] = whole[k] and len(spec.positions) == words
    bans = [{} if layouts is None or not whole[k] else {p: b for p, b in layouts[k].banned.items() if p not in t}
            for k, t in enumerate(taken)]  # a hole's bans, but where a phrase landed
    specs = [HardSpec(seq_len, {p: i for p, i in t.items() if p not in base}, u, banned=b)
             for t, u, b in zip(taken, unk, bans, strict=True)]
    return with_glue_bans(specs, base, tokenizer) if is_subword(tokenizer) else specs


def with_glue_bans(specs: Sequence[HardSpec], base: Mapping[int, int], tokenizer: Tokenizer) -> list[HardSpec]:
    """``specs`` (placed on a subword model), each banning, at every free position right after a placed or ``base``
    subword that ends a word, the subwords that would continue that word (:func:`ctrlgen.text.alignment.glue_ids`):
    a free token never changes a fixed word (``[PAD]``/``[START]`` are banned there too: decoding skips them, so
    the token after them would glue on)."""
    glue = glue_ids(tokenizer) | {tokenizer.vocab.pad_id, tokenizer.vocab.start_id}
    out = []
    for spec in specs:
        taken = {**base, **spec.positions}
        after = {p + 1: glue for p, i in taken.items() if p + 1 < spec.seq_len and p + 1 not in taken
                 and ends_word(tokenizer, i)}
        out.append(replace(spec, banned={**after, **spec.banned}) if after else spec)  # a hole's own ban is stricter
    return out


def place_layouts(prepared: PreparedConstraint | None, tokenizer: Tokenizer, seq_len: int, base: Mapping[int, int],
                  n: int, score: PlacementScore, generator: torch.Generator | None = None) -> list[HardSpec] | None:
    """One subword placement of the merged word layout per sample (module doc), or ``None`` on a word-level model or
    without a layout leaf: each sample's ``HardSpec`` holds the placed subwords, ``[END]`` and the ``[PAD]`` tokens
    after it (not ``base``), and its holes' word-boundary bans unless the ``Contains`` phrases of ``prepared`` could
    change a hole's word count (kept for :func:`one_word_holes` only)."""
    runs = layout_runs(prepared, tokenizer)
    if runs is None:
        return None
    end, phrases = tokenizer.vocab.end_id, placed_leaves(prepared)
    found = search_runs(runs, base, seq_len, score, end_fixed=bool(runs) and runs[-1].ids == (end,),
                        extra=sum(leaf.excess(tokenizer, seq_len) for leaf in phrases))
    found = [f for f in found  # layouts that leave the phrases room
             if all(leaf.fits(tokenizer, seq_len, {**base, **f.positions},
                              last_word_position(f.positions, tokenizer, seq_len)) for leaf in phrases)]
    if not found:
        raise ConstraintError(f"no placement of the fixed words in {seq_len} positions leaves room for the phrases "
                              f"{[leaf.phrases for leaf in phrases]}",
                              "lengthen the text (Length) or drop a phrase")
    logp = torch.tensor([f.logp for f in found], dtype=torch.float64)
    probs = torch.softmax(logp if bool(logp.isfinite().any()) else torch.zeros_like(logp), 0)
    draws = torch.multinomial(probs.to(generator.device if generator else "cpu"), n, replacement=True,
                              generator=generator).tolist()
    out = []
    for d in draws:
        placed = dict(found[d].positions)
        stop = min([p for p, i in placed.items() if i == end], default=None)
        if stop is not None:
            placed.update({p: tokenizer.vocab.pad_id for p in range(stop + 1, seq_len)})
        keep = not phrases or one_word_holes(found[d].holes)  # else a phrase's subwords would break the boundaries
        banned = hole_bans(found[d].holes, tokenizer, generator) if keep else {}
        out.append(HardSpec(seq_len, {p: i for p, i in placed.items() if p not in base}, banned=banned))
    return out


def one_word_holes(holes: Sequence[Hole]) -> bool:
    """Whether every hole of a layout has one position per word (each a whole word: always under the default prior
    ``EXTRA_SUBWORD_P = 0`` unless ``Contains`` phrases needed extra room). Such holes keep their word-boundary bans
    while phrases are placed after them (:func:`place_layouts`; :func:`~ctrlgen.core.subword_layout.hole_bans` draws
    nothing for them, so the placements are unchanged); a phrase that takes one subword per word then replaces whole
    words one for one and the hole keeps its word count (:func:`place_phrases` drops the bans of a sample whose
    phrases did not)."""
    return all(h.size == h.words for h in holes)


def token_conditioning(prepared: PreparedConstraint | None, vocab: Any, seq_len: int,
                       vocab_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """The conditioning every sample shares on a token backend (discrete, masked): ``fixed: BoolTensor[L]`` and
    ``values: LongTensor[L]`` — ``[START]`` at 0 plus the merged hard face — and ``banned: BoolTensor[1, L, V]``:
    MASK and UNK everywhere, PAD/START/END at position 1 (a sample has at least one word: never a blank text) and
    before a fixed ``[END]`` (the words before a fixed end are words)."""
    fixed, values = torch.zeros(seq_len, dtype=torch.bool), torch.zeros(seq_len, dtype=torch.long)
    if prepared is not None and prepared.hard is not None:
        fixed, values = (v.clone() for v in prepared.hard.to_tensors())
    fixed[0], values[0] = True, vocab.start_id
    banned = torch.zeros(1, seq_len, vocab_size, dtype=torch.bool)
    banned[..., [vocab.mask_id, vocab.unk_id]] = True
    if seq_len > 2:  # a fixed token at 1 (a prefix) overrides the ban through the projector
        banned[0, 1, [vocab.pad_id, vocab.start_id, vocab.end_id]] = True
    ends = [] if prepared is None or prepared.hard is None else \
        [p for p, i in prepared.hard.positions.items() if i == vocab.end_id]
    if ends:
        banned[0, 1:min(ends), [vocab.pad_id, vocab.start_id, vocab.end_id]] = True
    return fixed, values, banned


def base_tokens(fixed: Tensor, values: Tensor) -> dict[int, int]:
    """The tokens every sample shares (position → id) from ``fixed: BoolTensor[L]`` / ``values: LongTensor[L]``:
    the ``base`` of :func:`place_phrases`."""
    return {p: int(values[p]) for p in fixed.nonzero().flatten().tolist()}


def memoised(score: PlacementScore) -> PlacementScore:
    """``score`` remembering its answers, keyed on ``(taken, starts, ids)``: requests that share a context (the same
    phrase beside the same fixed tokens, e.g. one ``Contains`` in many requests of a shared batch) are scored once.
    Exact — each answer is the tensor a fresh call returns (a copy) — and the draws are untouched, so placements are
    bit for bit those without it. Scope it to one call: the model must not change while the memo lives."""
    memo: dict[tuple[tuple[tuple[int, int], ...], tuple[int, ...], tuple[int, ...]], Tensor] = {}

    def cached(taken: Mapping[int, int], starts: Sequence[int], ids: Sequence[int]) -> Tensor:
        key = (tuple(sorted(taken.items())), tuple(starts), tuple(ids))
        if key not in memo:
            memo[key] = score(taken, starts, ids)
        return memo[key].clone()

    return cached


def chain_rule_score(forward: Callable[[Tensor], Tensor], taken: Mapping[int, int], starts: Sequence[int],
                     ids: Sequence[int], seq_len: int, vocab: Any, device: torch.device) -> Tensor:
    """log p(phrase ``ids`` at start s | the ``taken`` tokens, all else MASK) for each start: ``Tensor[S]`` (float64).

    ``forward(x: LongTensor[b, L])`` → clean-token logits ``[b, L, V]`` (the absorbing score or a mask predictor); the
    canvas holds ``[START]`` at 0, the ``taken`` tokens and MASK elsewhere. The chain rule over the phrase:
    log p(w_0 at s) + log p(w_1 at s+1 | w_0) + …, each term the log-softmax over the non-MASK ids at a masked
    position (a word already in place contributes 0). Before the first word is written every row is the same
    sequence, so its terms come from one single-row forward."""
    mask_id = vocab.mask_id
    x = torch.full((len(starts), seq_len), mask_id, dtype=torch.long, device=device)
    for p, i in taken.items():
        x[:, p] = i
    x[:, 0] = vocab.start_id
    rows, s = torch.arange(len(starts), device=device), torch.as_tensor(starts, device=device)
    total = torch.zeros(len(starts), dtype=torch.float64, device=device)
    for j, w in enumerate(ids):
        masked = x[rows, s + j] == mask_id
        if bool(masked.any()):
            # only the phrase position of each row is read: gather it before the float64 cast ([S, V], not [S, L, V])
            logits = (forward(x[:1])[0][s] if j == 0 else forward(x)[rows, s + j]).double()
            logits[:, mask_id] = float("-inf")
            lp = logits.log_softmax(-1)[:, w]
            total += torch.where(masked, lp, torch.zeros_like(lp))
        x[rows, s + j] = w
    return total


def with_placements(fixed: Tensor, values: Tensor, banned: Tensor, placed: Sequence[HardSpec],
                    vocab: Any) -> tuple[Tensor, Tensor, Tensor]:
    """``fixed: BoolTensor[L]``, ``values: LongTensor[L]`` and ``banned: BoolTensor[1, L, N]`` (the conditioning
    shared by all samples) with each sample's placed words added: ``[b, L]``, ``[b, L]``, ``[b, L, N]``, on
    ``fixed``'s device; PAD/START/END are banned before a sample's last placed word (the phrase must be read), or
    before its placed ``[END]`` (a subword layout)."""
    b = len(placed)
    f, v, ban = fixed.expand(b, -1).clone(), values.expand(b, -1).clone(), banned.expand(b, -1, -1).clone()
    lists: dict[int, Tensor] = {}
    for k, spec in enumerate(placed):
        if spec.positions:
            pos = torch.tensor(sorted(spec.positions), device=f.device)
            f[k, pos] = True
            v[k, pos] = torch.tensor([spec.positions[p] for p in pos.tolist()], device=f.device)
            stop = min([p for p, i in spec.positions.items() if i == vocab.end_id], default=int(pos.max()))
            ban[k, 1:stop, [vocab.pad_id, vocab.start_id, vocab.end_id]] = True
        for p, ids in spec.banned.items():  # one id list per distinct set (the glue set is shared)
            if id(ids) not in lists:
                lists[id(ids)] = torch.tensor(sorted(ids), dtype=torch.long, device=f.device)
            ban[k, p, lists[id(ids)]] = True
    return f, v, ban


def unk_runs(placed: Sequence[HardSpec]) -> list[tuple[int, int, dict[int, str]]]:
    """Contiguous runs ``(start, stop, unk_words)`` of samples whose placed ``[UNK]`` words agree by position (one
    run unless two samples put different unknown words at one position): each run decodes with one map."""
    runs, cur, a = [], {}, 0
    for k, spec in enumerate(placed):
        if any(cur.get(p, w) != w for p, w in spec.unk_words.items()):
            runs.append((a, k, cur))
            cur, a = {}, k
        cur = {**cur, **spec.unk_words}
    return [*runs, (a, len(placed), cur)]


def with_unk(prepared: PreparedConstraint | None, unk: Mapping[int, str]) -> PreparedConstraint | None:
    """``prepared`` whose hard face also writes the placed unknown words ``unk`` back when decoding."""
    if prepared is None or not unk:
        return prepared
    hard = prepared.hard or HardSpec(prepared.seq_len, {})
    return replace(prepared, hard=replace(hard, unk_words={**hard.unk_words, **unk}))


def emit_placed(on_batch: OnBatch | None, start: int, tokens: Tensor, tokenizer: Tokenizer,
                prepared: PreparedConstraint | None, placed: Sequence[HardSpec] | None,
                parts: list[GenerationOutput]) -> None:
    """Stream one finished batch (``tokens: LongTensor[b, L]``, its samples' placements ``placed``, or ``None``):
    :func:`~ctrlgen.core.contract.emit_batch`, run by run where placed ``[UNK]`` words differ."""
    if on_batch is None or placed is None:
        emit_batch(on_batch, start, tokens, tokenizer, prepared, parts)
        return
    for a, z, unk in unk_runs(placed):
        emit_batch(on_batch, start + a, tokens[a:z], tokenizer, with_unk(prepared, unk), parts)


def placed_output(ids: Tensor, tokenizer: Tokenizer, prepared: PreparedConstraint | None,
                  placed: Sequence[HardSpec] | None, trajectory: list[list[str]] | None,
                  **call: Any) -> GenerationOutput:
    """The call's output from all its ``ids: LongTensor[n, L]``: one report, decoded run by run where placed
    ``[UNK]`` words differ (their words written back)."""
    runs = unk_runs(placed) if placed is not None else [(0, ids.shape[0], {})]
    if len(runs) > 1:
        parts = [build_output(ids[a:z], tokenizer, with_unk(prepared, unk)) for a, z, unk in runs]
        return merge_batches(parts, trajectory, **call)
    return build_output(ids, tokenizer, with_unk(prepared, runs[0][2]), trajectory, **call)
