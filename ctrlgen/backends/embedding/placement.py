"""The embedding backend's placement score: where a run of tokens is likely, read off the Diffusion-LM denoiser.

The shared placement code (:mod:`ctrlgen.core.placement`, :mod:`ctrlgen.core.subword_layout`) places ``Contains``
phrases per sample and, on a subword (byte-level BPE) model, the word layouts of ``Infill`` / ``Prefix`` /
``Suffix`` / ``FixedTokens`` / ``Length``: which subword positions a hole of k words takes, where ``[END]`` goes.
It needs one thing from a backend, a :data:`~ctrlgen.constraints.contains.PlacementScore`
``score(taken, starts, ids) -> Tensor[S]``; this module is the embedding backend's. The backend then clamps the
placed tokens' clean embeddings at their positions at every step (its hard face, word model or subword model alike),
and the word-boundary bans of a hole (:func:`~ctrlgen.core.subword_layout.hole_bans`) restrict the rounding there.

**The score.** The denoiser predicts the clean sequence from a noisy one, x̂0 = f_θ(x_t, t), and its rounding head
turns x̂0 into a distribution over tokens at every position, q_p(v) = softmax(logits(x̂0))_p[v]. At full noise
(t = T − 1) with the ``taken`` positions clamped to their clean embeddings and the others pure noise x_T ~ N(0, I) —
exactly the state the sampler starts from under those hard constraints — q_p is the model's own guess of what goes
at p *given the taken tokens and nothing else* (:func:`clean_log_probs`, averaged in probability over
``draws`` noise draws of a fixed seed, so a placement score is deterministic). A run ``ids`` at start s scores

    log q(ids at s | taken) = Σ_j log q_{s+j}(ids_j)                (:func:`placement_score`)

the factorised x̂0 likelihood (:func:`~ctrlgen.constraints.phrase_math.start_log_probs`; a token already in place
contributes 0). Why it is a reasonable proxy for the model's likelihood p(x_s … x_{s+k−1} = ids | taken): the
denoiser is trained to regress the clean embeddings, f(x_t, t) ≈ E[x0 | x_t], and the tied rounding head to read a
token back from an embedding (−log p(w | x0)); at full noise the only information about position p is the clamped
tokens, so x̂0_p is the model's posterior-mean embedding there and q_p its guess of the token — the quantity the
discrete and masked backends read at an all-MASK canvas, and the state this backend's own sampler starts from.
Two approximations, both stated: (1) training noises every position at the same t, so clamped clean tokens beside
pure noise are off the training distribution — the same approximation the clamping hard face makes at every step;
(2) the tokens *within* one run are scored independently given ``taken`` (one forward per call, where the discrete
and masked backends run one per token); between runs the layout search conditions each run on those placed before
it (they are in ``taken``), so a layout's score is a chain rule over runs. Cost: one forward of ``draws`` rows per
call (per partial layout extended by the hole-length search, per distinct context of a phrase placement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ctrlgen.backends.embedding.diffusion import GaussianDiffusion
from ctrlgen.backends.embedding.model import EmbeddingLM
from ctrlgen.constraints.phrase_math import start_log_probs

PLACEMENT_DRAWS = 4  # noise draws x_T averaged by clean_log_probs (a fixed seed: placement scores are deterministic)


@torch.no_grad()
def clean_log_probs(model: EmbeddingLM, diffusion: GaussianDiffusion, mask_id: int, taken: Mapping[int, int],
                    draws: int = PLACEMENT_DRAWS) -> Tensor:
    """log q_p(v): the model's clean-token prediction at full noise given the ``taken`` tokens (position → id),
    ``Tensor[L, V]`` (float64). x̂0 = f(x_T, T) with x_T ~ N(0, I) (seed 0) and the taken positions clamped to their
    clean embeddings (as the sampler starts), read through the rounding head (``logits``, ``mask_id`` excluded) and
    averaged in probability over ``draws`` noise draws."""
    cfg, param = model.config, next(model.parameters())
    g = torch.Generator(device=param.device).manual_seed(0)
    x = torch.randn((draws, cfg.seq_len, cfg.embed_dim), generator=g, device=param.device, dtype=param.dtype)
    if taken:
        pos = torch.tensor(sorted(taken), device=param.device)
        ids = torch.tensor([taken[p] for p in sorted(taken)], device=param.device)
        x[:, pos] = model.embed(ids).to(x.dtype)
    t = torch.full((draws,), diffusion.num_steps - 1, dtype=torch.long, device=param.device)
    logits = model.logits(model(x, diffusion.model_time(t))).double()
    logits[..., mask_id] = float("-inf")
    return logits.log_softmax(-1).logsumexp(0) - torch.log(torch.tensor(float(draws)))


@torch.no_grad()
def placement_score(model: EmbeddingLM, diffusion: GaussianDiffusion, mask_id: int, taken: Mapping[int, int],
                    starts: Sequence[int], ids: Sequence[int]) -> Tensor:
    """log q(run ``ids`` at start s | the ``taken`` tokens) for each s in ``starts``: ``Tensor[S]`` (float64, CPU) —
    Σ_j log q_{s+j}(ids_j) under :func:`clean_log_probs` (module doc); a token already in place contributes 0, a
    different one −∞."""
    lp = clean_log_probs(model, diffusion, mask_id, taken).clone()
    for p, i in taken.items():
        lp[p] = float("-inf")
        lp[p, i] = 0.0
    per_start = start_log_probs(lp[None], list(ids))[0]
    return per_start[torch.as_tensor(list(starts), dtype=torch.long, device=per_start.device)].cpu()
