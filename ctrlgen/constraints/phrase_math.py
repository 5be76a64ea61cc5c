"""Classifier-free phrase likelihoods: the denoiser's own clean-token prediction as the classifier for ``Contains``.

A diffusion denoiser predicts, at every position p, a distribution over the clean token: ``log_probs[b, p, v]``
= log q_p(v) (x̂0 for embedding diffusion after rounding, the normalised score at a masked position for
absorbing discrete diffusion). Read as a *factorised* distribution over whole sequences,
q(x) = ∏_p q_p(x_p) — the positions independent given the noisy state — it answers "how likely is a phrase
w = (w_0 … w_{k−1}) to occur?" with no classifier and no training.

**One start.** The event E_s = {x_{s+j} = w_j for j < k} (the phrase starts at position s) has, under q,

    log P(E_s) = Σ_j log q_{s+j}(w_j)                                                   (exact)

**Any allowed start** (a set S of starts). The phrase occurs iff one E_s holds, P(∪_s E_s). The events overlap
(a sequence may hold the phrase twice), so the exact value needs inclusion–exclusion; the *soft OR* used here is

    phrase_log_prob = log Σ_{s∈S} P(E_s) = logsumexp_s Σ_j log q_{s+j}(w_j)

a union bound: ``max_s log P(E_s) ≤ log P(∪_s E_s) ≤ phrase_log_prob ≤ max_s log P(E_s) + log |S|``. It is exact
when S has one start, and tight when the events are nearly disjoint (each P(E_s) small, or the phrase cannot
overlap a shifted copy of itself) — the case that matters for guidance, which starts where the phrase is unlikely.

**Several phrases** (all of them must occur): the sum of the per-phrase soft ORs, log ∏_i U_i. When the phrases'
allowed windows use disjoint positions the events are independent under q, so this is again an upper bound on
log P(all occur); when windows share positions it is an approximation (the phrases compete for positions q
treats as independent). Everything is differentiable in ``log_probs`` (gather, sum, logsumexp), so −phrase_log_prob
can serve as a soft face's −log p(c | state) once ``log_probs`` is a differentiable function of the state.

Shapes: ``log_probs: Tensor[B, L, V]`` (log-probabilities over the vocabulary, each row normalised),
``ids: LongTensor[k]`` (the phrase's token ids), ``starts``: allowed start positions (0-based sequence positions,
so with ``[START]`` at 0 the first word is at 1), default every start whose phrase fits in L.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ctrlgen.constraints.base import ConstraintError

Starts = Sequence[int] | Tensor | None


def _ids(ids: Sequence[int] | Tensor, log_probs: Tensor) -> Tensor:
    t = torch.as_tensor(ids, dtype=torch.long, device=log_probs.device).reshape(-1)
    if log_probs.dim() != 3:
        raise ConstraintError(f"log_probs must be [B, L, V], got shape {tuple(log_probs.shape)}",
                              "pass the denoiser's per-position log-probabilities")
    if t.numel() == 0 or t.numel() > log_probs.shape[1]:
        raise ConstraintError(f"a phrase of {t.numel()} tokens does not fit in {log_probs.shape[1]} positions",
                              "pass 1..L token ids")
    if bool((t < 0).any()) or bool((t >= log_probs.shape[2]).any()):
        raise ConstraintError(f"phrase ids {t.tolist()} are outside 0..{log_probs.shape[2] - 1}",
                              "encode the phrase with the model's tokenizer")
    return t


def start_log_probs(log_probs: Tensor, ids: Sequence[int] | Tensor) -> Tensor:
    """log P(E_s) = Σ_j log_probs[b, s + j, ids[j]] for every start s = 0 … L − k: ``Tensor[B, L − k + 1]``."""
    t = _ids(ids, log_probs)
    k, n_starts = t.numel(), log_probs.shape[1] - t.numel() + 1
    return sum(log_probs[:, j:j + n_starts, t[j]] for j in range(k))  # type: ignore[return-value]


def phrase_log_prob(log_probs: Tensor, ids: Sequence[int] | Tensor, starts: Starts = None) -> Tensor:
    """The soft OR: logsumexp over the allowed ``starts`` of log P(E_s) — an upper bound on log P(the phrase
    occurs) under the factorised x̂0 (module doc), exact for one start. ``Tensor[B]``; −inf when no start fits."""
    per_start = start_log_probs(log_probs, ids)
    if starts is not None:
        s = torch.as_tensor(starts, dtype=torch.long, device=log_probs.device).reshape(-1)
        if bool((s < 0).any()) or bool((s >= per_start.shape[1]).any()):
            raise ConstraintError(f"starts {s.tolist()} are outside 0..{per_start.shape[1] - 1}",
                                  "a start s needs s + len(phrase) <= L")
        per_start = per_start[:, s]
    if per_start.shape[1] == 0:
        return log_probs.new_full((log_probs.shape[0],), float("-inf"))
    return per_start.logsumexp(-1)


def phrases_log_prob(log_probs: Tensor, phrases: Sequence[Sequence[int] | Tensor],
                     starts: Sequence[Starts] | None = None) -> Tensor:
    """Σ_i phrase_log_prob(log_probs, phrases[i], starts[i]): all phrases occur, treated as independent (an
    upper bound when their windows are disjoint; module doc). ``Tensor[B]``."""
    if not phrases:
        raise ConstraintError("phrases_log_prob needs at least one phrase", "pass a list of token-id lists")
    if starts is not None and len(starts) != len(phrases):
        raise ConstraintError(f"{len(starts)} start sets for {len(phrases)} phrases", "pass one per phrase, or None")
    windows = starts if starts is not None else [None] * len(phrases)
    terms = [phrase_log_prob(log_probs, p, s) for p, s in zip(phrases, windows, strict=True)]
    return torch.stack(terms).sum(0)
