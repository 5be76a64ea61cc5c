"""The denoiser's own fluency score of finished samples, and reranking by it (issue 14), teacher-free.

``own_log_likelihood``: each sample's words are embedded, noised to a few fixed levels t (a fixed seed, so the
score is deterministic), denoised once, and read through the rounding head: the mean over the words (START to
END) and levels of log softmax(logits(f(x_t, t)))[word] — how well the model predicts each word back from a noisy
copy of its own sentence, a pseudo-likelihood that drops for words that do not fit their context. Every row gets the
same noise (common random numbers): a text's score does not depend on the batch it is scored in.

``fluent_order``: among ``n · k`` samples of one call, the ones whose check score is within ``slack`` of the best
first, then by that score; inside each group distinct texts first, most fluent first. Used by
``generate(..., rerank=k)`` of the embedding backend.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ctrlgen.backends.embedding.diffusion import GaussianDiffusion

LEVELS = (0.1, 0.25, 0.4)  # fractions of the training T the words are noised to
DRAWS = 2  # noise draws per level


@torch.no_grad()
def own_log_likelihood(model: torch.nn.Module, diffusion: GaussianDiffusion, tokens: Tensor, end_id: int,
                       levels: Sequence[float] = LEVELS, draws: int = DRAWS) -> Tensor:
    """``tokens: LongTensor[B, L]`` → ``Tensor[B]`` (mean log-prob per word, ≤ 0; higher = more fluent).

    Positions after the first END are not scored; self-conditioning (when the model uses it) starts from zeros
    as at the first sampling step."""
    B, L = tokens.shape
    x0 = model.embed(tokens)
    ends = (tokens == end_id).int()
    last = torch.where(ends.any(1), ends.argmax(1), torch.full_like(ends[:, 0], L - 1))
    scored = (torch.arange(L, device=tokens.device)[None] <= last[:, None]).float()  # [B, L]
    g = torch.Generator(device=tokens.device).manual_seed(0)
    total = torch.zeros(B, dtype=x0.dtype, device=tokens.device)
    for level in levels:
        t = torch.full((B,), min(diffusion.num_steps - 1, round(level * diffusion.num_steps)), dtype=torch.long,
                       device=tokens.device)
        for _ in range(draws):
            noise = torch.randn((1, *x0.shape[1:]), generator=g, device=x0.device, dtype=x0.dtype).expand_as(x0)
            x_t = diffusion.q_sample(x0, t, noise)
            lp = model.logits(model(x_t, diffusion.model_time(t))).log_softmax(-1)
            total += (lp.gather(2, tokens[..., None])[..., 0] * scored).sum(1) / scored.sum(1)
    return total / (len(levels) * draws)


def fluent_order(texts: Sequence[str], check: Sequence[float] | None, fluency: Sequence[float],
                 slack: float = 0.05) -> list[int]:
    """Indices of ``texts`` best first (module doc). ``check``: each sample's combined check score in [0, 1]
    (``None``: no constraint, fluency alone)."""
    n = len(texts)
    score = [1.0] * n if check is None else list(check)
    best = max(score) if score else 1.0
    seen: set[str] = set()
    order = sorted(range(n), key=lambda k: (score[k] < best - slack, -score[k] if score[k] < best - slack else 0.0,
                                            -fluency[k]))
    first, dupes = [], []
    for k in order:
        (dupes if texts[k] in seen else first).append(k)
        seen.add(texts[k])
    passed = [k for k in first if score[k] >= best - slack]
    rest = [k for k in first if score[k] < best - slack]
    return passed + [k for k in dupes if score[k] >= best - slack] + rest + [k for k in dupes if score[k] < best - slack]
