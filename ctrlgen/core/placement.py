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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from ctrlgen.constraints.base import HardSpec
from ctrlgen.constraints.composition import PreparedConstraint
from ctrlgen.constraints.contains import Contains, PlacementScore
from ctrlgen.core.contract import OnBatch, emit_batch, merge_batches
from ctrlgen.core.output import GenerationOutput, build_output
from ctrlgen.registry import HARD
from ctrlgen.text.tokenizer import Tokenizer


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
    """Per-sample placements of the ``Contains`` leaves of ``prepared`` for ``n`` samples, or ``None`` without one.

    ``base`` (position → id): the tokens fixed for every sample (START at 0 and the merged hard face); each leaf's
    :meth:`~ctrlgen.constraints.contains.Contains.place` scores its starts with ``score`` given ``base`` and the
    leaves placed before it, and samples one per sample with ``generator``. Returns one ``HardSpec`` per sample
    holding only the placed words (not ``base``), with the ``[UNK]`` words to write back (``allow_unk``). Raises
    ``ConstraintError`` (before any sampling) when a phrase has no room."""
    leaves = placed_leaves(prepared)
    if not leaves:
        return None
    last = last_word_position(base, tokenizer, seq_len)
    taken, unk = [dict(base) for _ in range(n)], [{} for _ in range(n)]
    for leaf in leaves:
        specs = leaf.place(tokenizer, seq_len, taken, [last] * n, score, generator)
        for k, spec in enumerate(specs):
            taken[k].update(spec.positions)
            unk[k].update(spec.unk_words)
    return [HardSpec(seq_len, {p: i for p, i in t.items() if p not in base}, u)
            for t, u in zip(taken, unk, strict=True)]


def with_placements(fixed: Tensor, values: Tensor, banned: Tensor, placed: Sequence[HardSpec],
                    vocab: Any) -> tuple[Tensor, Tensor, Tensor]:
    """``fixed: BoolTensor[L]``, ``values: LongTensor[L]`` and ``banned: BoolTensor[1, L, N]`` (the conditioning
    shared by all samples) with each sample's placed words added: ``[b, L]``, ``[b, L]``, ``[b, L, N]``, on
    ``fixed``'s device; PAD/START/END are banned before a sample's last placed word (the phrase must be read)."""
    b = len(placed)
    f, v, ban = fixed.expand(b, -1).clone(), values.expand(b, -1).clone(), banned.expand(b, -1, -1).clone()
    for k, spec in enumerate(placed):
        if spec.positions:
            pos = torch.tensor(sorted(spec.positions), device=f.device)
            f[k, pos] = True
            v[k, pos] = torch.tensor([spec.positions[p] for p in pos.tolist()], device=f.device)
            ban[k, 1:int(pos.max()), [vocab.pad_id, vocab.start_id, vocab.end_id]] = True
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
