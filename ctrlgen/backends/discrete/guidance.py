"""Soft constraints on discrete diffusion: first-order rate reweighting (``reference/sedd.md``, guidance).

The reverse process jumps position i from x_i to y at a rate proportional to the score s_{i,y}. Conditioning
on an attribute c multiplies that rate by the likelihood ratio p(c | x with i→y) / p(c | x). Computing it
exactly costs one classifier call per candidate jump (L·N per step); the first-order (Taylor) approximation
needs one gradient with respect to the one-hot input e(x):

    log p(c | x with i→y) − log p(c | x)  ≈  g_{i,y} − g_{i,x_i},    g = ∇_{e(x)} log p(c | e(x), σ̄)

so the guided log-score is log s_{i,y} + γ·(g_{i,y} − g_{i,x_i}), summed over the soft terms with their
weights. ``γ`` (``scale``) is the guidance strength: 0 returns the model's scores untouched (bit for bit).

``shortlist = k > 0`` replaces the approximation by the **exact** ratio for the k most likely jumps of
each position that can move (with ``mask_id``: the masked positions, as in the absorbing graph; MASK
itself is never a candidate): one classifier call per candidate sequence, batched, so about k × (masked
positions) calls per step. Jumps outside the shortlist keep the first-order value. On E2E semantic
control with ``e2e-sedd`` (40 targets × 4, ``recipes/control_discrete.py``) success goes from 6.2%
unguided and 18.8% first-order (γ = 8, lm-score 13.7) to 33.8% / 47.5% with k = 4 at γ = 1 / 2 (lm-score
10.7 / 10.4; unguided 8.2), at ~10× the guided cost (149 CPU s per 50 samples at 64 steps). For a soft
face linear in the one-hot input both agree.

**Where the ratios are paid** (``guidance_mode``). This class reweights every step's rates ("every-step"). On the
absorbing graph the generator's default is "on-move" (``ctrlgen.backends.discrete.move_guidance``): the step is drawn
unguided and only the positions that unmask are redrawn from these same guided rates — the same law for the token a
moving position takes, at about L·k classifier rows per sample instead of ~L·k·steps/2 (numbers there).

**Demoting outside the shortlist** (``demote_outside``, class-wide default off): a per-position tagger's
first-order ratios promote every word of the wanted class, likely or not, so ``POS`` (``pos-token.v1``) guidance
wrecks fluency (teacher lm-score ≈ 250–500 against 9.4 unguided). With ``demote_outside`` the jumps outside the
shortlist keep only ratios ≤ 0: guidance lowers unwanted words anywhere but raises only the denoiser's k likeliest
(``recipes/control_discrete_pos.py``, ``recipes/results/control_discrete_pos*.json``).

A ``soft:token`` face (``constraints.base.SoftFn``) is called as ``soft(onehot: Tensor[B, L, N], sigma: Tensor[B])``
and returns −log p(c | x_t): ``Tensor[B]``, differentiable in the one-hot input (MASK is a token like any other;
a classifier for the absorbing graph is trained on masked inputs over the noise schedule).

**Fast path.** A soft fn whose ``embedding`` attribute is set (``constraints.classifier.ClassifierSoft`` of a
classifier with ``token_embedding`` / ``log_prob_embedded``, e.g. ``semantic-token.v1``) is fed
``table[ids]`` (``table = embedding(): Tensor[N, E]``, equal to ``onehot @ table``) instead of one-hot tensors:
the shortlist's variants are scored by indexing, and the first-order gradient is ``(∂/∂e) @ tableᵀ``, the
chain rule of the one-hot path. The results are the one-hot path's (``tests/test_guidance_fast_path.py``);
``RateGuidance.fast = False`` forces the one-hot path (``recipes/bench_speed.py`` times both in one run).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ctrlgen.errors import SamplingError

#: ``soft(onehot: Tensor[B, L, N], sigma: Tensor[B]) -> Tensor[B]``: −log p(c | x_t), differentiable in onehot.
TokenSoftFn = Callable[[Tensor, Tensor], Tensor]


def check_shortlist(shortlist: object) -> None:
    """``shortlist``: an int ≥ 0 (0 = first-order ratios only), else :class:`SamplingError` with a hint."""
    if isinstance(shortlist, bool) or not isinstance(shortlist, int) or shortlist < 0:
        raise SamplingError(f"guidance shortlist must be an int >= 0, got {shortlist!r}",
                            "0: first-order ratios only; k: exact ratios for the k likeliest jumps")


class RateGuidance(nn.Module):
    """Wraps a score model (``model(x_t, sigma) -> log-score Tensor[B, L, N]``) so its log-scores carry the
    first-order likelihood ratios of ``terms`` (``(weight, soft)`` pairs), scaled by ``scale``. ``fast``: use the
    soft fns' token tables where they offer one (default: the class attribute :attr:`fast`, True).
    ``demote_outside`` (default: the class attribute, False): with a shortlist, the jumps outside it keep only
    first-order ratios ≤ 0."""

    fast: bool = True  # class-wide default; False forces the one-hot path (benchmarks compare the two)
    #: class-wide default; True: with a shortlist, jumps outside it keep only the first-order ratios that lower
    #: their rate (min(ratio, 0)): guidance may then promote only the denoiser's likeliest words (fluency)
    demote_outside: bool = False

    def __init__(self, model: nn.Module, terms: Sequence[tuple[float, TokenSoftFn]], scale: float = 1.0,
                 shortlist: int = 0, mask_id: int | None = None, chunk: int = 512, fast: bool | None = None,
                 demote_outside: bool | None = None) -> None:
        super().__init__()
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not math.isfinite(scale) or scale < 0:
            raise SamplingError(f"guidance scale must be a number >= 0, got {scale!r}", "0 turns guidance off")
        check_shortlist(shortlist)
        self.model, self.terms, self.scale = model, list(terms), float(scale)
        self.shortlist, self.mask_id, self.chunk = shortlist, mask_id, chunk
        self.fast = type(self).fast if fast is None else bool(fast)
        self.demote_outside = type(self).demote_outside if demote_outside is None else bool(demote_outside)
        self.config = getattr(model, "config", None)

    def _table(self, soft: TokenSoftFn) -> Tensor | None:
        """The soft fn's token table ``Tensor[N, E]`` when it offers the fast path (and it is on), else ``None``."""
        embedding = getattr(soft, "embedding", None) if self.fast else None
        return None if embedding is None else embedding()

    def _nll(self, x: Tensor, sigma: Tensor, n: int) -> Tensor:
        """Weighted −log p(c | x) of token ids ``x: Tensor[B, L]``: ``Tensor[B]``, in chunks of ``chunk`` rows."""
        tables = [self._table(soft) for _, soft in self.terms]
        out = []
        for xc, sc in zip(x.split(self.chunk), sigma.split(self.chunk), strict=True):
            onehot = F.one_hot(xc, n).float() if any(t is None for t in tables) else None
            out.append(sum(w * (soft(onehot, sc) if table is None else soft.embedded(table[xc], sc))  # type: ignore[attr-defined]
                           for (w, soft), table in zip(self.terms, tables, strict=True)))
        return torch.cat(out)

    @torch.no_grad()
    def exact_ratios(self, x_t: Tensor, sigma: Tensor, scores: Tensor, ratio: Tensor,
                     where: Tensor | None = None) -> Tensor:
        """Overwrite ``ratio: Tensor[B, L, N]`` with log p(c | x with i→y) − log p(c | x) for the ``shortlist``
        likeliest ``y`` (by ``scores``) at each position ``i`` of ``where: BoolTensor[B, L]`` (default: every
        movable one); returns ``ratio``."""
        L, n = x_t.shape[1], scores.shape[-1]
        movable = x_t == self.mask_id if self.mask_id is not None else torch.ones_like(x_t, dtype=torch.bool)
        bi, li = (movable if where is None else where).nonzero(as_tuple=True)
        if len(bi) == 0:
            return ratio
        k = min(self.shortlist, n - 1)
        ranked = scores[bi, li].float().nan_to_num(neginf=-1e30)
        ranked.scatter_(-1, x_t[bi, li][:, None], -float("inf"))  # staying is not a jump
        if self.mask_id is not None:
            ranked[:, self.mask_id] = -float("inf")
        ys = ranked.topk(k, -1).indices  # [M, k]
        m = len(bi)
        variants = x_t[bi][:, None, :].repeat(1, k, 1)  # [M, k, L]
        variants[torch.arange(m)[:, None], torch.arange(k)[None], li[:, None].expand(m, k)] = ys
        base = self._nll(x_t, sigma, n)  # [B]
        moved = self._nll(variants.reshape(m * k, L), sigma[bi].repeat_interleave(k), n).reshape(m, k)
        exact = (base[bi][:, None] - moved).to(ratio.dtype)
        if self.demote_outside:
            ratio[bi, li] = ratio[bi, li].clamp(max=0)
        ratio[bi[:, None].expand(m, k), li[:, None].expand(m, k), ys] = exact
        return ratio

    def log_ratio(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        """g_{i,y} − g_{i,x_i}: ``Tensor[B, L, N]`` (0 at each position's own token). A fast-path term's gradient
        with respect to its embedded input ``e = table[x_t]: Tensor[B, L, E]`` is mapped to the one-hot input by
        ``(∂/∂e) @ tableᵀ`` (one-hot @ table = e)."""
        n = self.config.vocab_size if self.config is not None else int(x_t.max()) + 1
        tables = [self._table(soft) for _, soft in self.terms]
        with torch.enable_grad():
            onehot = F.one_hot(x_t, n).float().requires_grad_(True) if any(t is None for t in tables) else None
            embedded = [None if t is None else t[x_t].detach().requires_grad_(True) for t in tables]
            nll = sum(w * (soft(onehot, sigma) if e is None else soft.embedded(e, sigma))  # type: ignore[attr-defined]
                      for (w, soft), e in zip(self.terms, embedded, strict=True))
            leaves = [v for v in (onehot, *embedded) if v is not None]
            grads = dict(zip(map(id, leaves), torch.autograd.grad(-nll.sum(), leaves), strict=True))  # type: ignore[union-attr]
        grad = grads[id(onehot)] if onehot is not None else None
        for e, table in zip(embedded, tables, strict=True):
            if e is not None:
                part = grads[id(e)] @ table.t()  # type: ignore[union-attr]
                grad = part if grad is None else grad + part
        assert grad is not None
        return grad - grad.gather(-1, x_t[..., None])

    def forward(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        out = self.model(x_t, sigma)
        if self.scale == 0 or not self.terms:
            return out
        s = torch.as_tensor(sigma, device=x_t.device).reshape(-1).expand(x_t.shape[0])
        ratio = self.log_ratio(x_t, s)
        if self.shortlist:
            ratio = self.exact_ratios(x_t, s, out, ratio)
        return out + self.scale * ratio.to(out.dtype)
