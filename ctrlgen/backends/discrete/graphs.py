"""SEDD graphs: the rate matrices Q of the forward Markov chain on token ids (absorbing, uniform), their
transitions, the score entropy and the reverse step's probabilities. Math only; the score network is passed in.

Conventions (those of the SEDD paper and code):
- A *graph* is the rate matrix Q of a continuous-time Markov chain on N token ids, in the column
  convention: ``Q[y, x]`` is the rate of x → y, columns sum to 0, dp_t/dt = σ'(t)·Q p_t. ``rate(i)`` is
  column i (rates out of i); ``transp_rate(i)`` is row i (rates into i, which the reverse process uses).
- ``sigma`` is the total noise σ̄(t) = ∫σ'; the transition is exp(σ̄Q): ``transition(i, σ̄)`` is its column i,
  q(x_t = · | x0 = i), ``transp_transition(i, σ̄)`` its row i, q(x_t = i | x0 = ·).
- ``log_score`` is the network's output log s_θ(x)_{·, y}; ``score`` is the ratio s_θ itself.
- ``vocab_size`` N counts every id the model scores, MASK included (ctrlgen's vocabulary always has one,
  at any id, so ``Absorbing`` takes ``mask_id`` rather than appending MASK as the SEDD code does).
Shapes: ids ``i: LongTensor[*S]``; ``sigma`` a number, a ``Tensor[B]`` (one value per leading row) or a
tensor broadcastable to ``[*S]``; per-token vectors ``Tensor[*S, N]``. Sampling takes a ``generator``.
``sample_categorical`` (the inverse-CDF draw of every step) lives in :mod:`ctrlgen.core.categorical`, shared with
the masked backend, and is importable from here too. Negative or NaN ``sigma``/``t`` raise ``SamplingError``; the
check runs on CPU tensors and numbers only, because on an accelerator it would cost a device sync per call.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor

from ctrlgen.core.categorical import sample_categorical
from ctrlgen.errors import ConfigError, SamplingError
from ctrlgen.registry import Registry

Sigma = Tensor | float  # a total noise σ̄ (or a Δσ̄): a number or a tensor, see the shapes above
Gen = torch.Generator | None
Device = torch.device | str | None
GRAPHS: Registry[type[Graph]] = Registry("graph")


def _sigma(sigma: Sigma, shape: torch.Size, device: torch.device, name: str = "sigma") -> Tensor:
    """``sigma`` as a float tensor broadcast to ``shape`` (a ``Tensor[B]`` is one value per leading row)."""
    s = torch.as_tensor(sigma, device=device)
    s = s if s.is_floating_point() else s.to(torch.get_default_dtype())
    if s.device.type == "cpu" and not bool((s >= 0).all()):  # `>= 0` is also False for NaN
        raise SamplingError(f"{name} must be >= 0, got {s.min().item()}",
                            "pass the total noise σ̄(t) from a Noise, which is never negative")
    if s.dim() == 1 and len(shape) > 1:
        s = s.view(-1, *([1] * (len(shape) - 1)))
    try:
        return torch.broadcast_to(s, shape)
    except RuntimeError:
        raise SamplingError(f"{name} of shape {tuple(s.shape)} does not broadcast to the ids' shape {tuple(shape)}",
                            "pass a number, a Tensor[B] or a tensor broadcastable to the ids") from None


# ---------------------------------------------------------------------------------------------- graphs
class Graph(ABC):
    """The forward CTMC on token ids. Both SEDD graphs have the form Q = π1ᵀ − I: every token jumps at rate 1
    to a draw from the limit π (itself included). Then Q² = −Q, so exp(aQ) = I + (1 − e^{−a})·Q, which gives
    every method here in closed form; a graph of another form overrides them. ``absorbing`` declares how
    samplers start (all MASK vs the uniform limit) and whether the final denoise step drops the MASK column."""

    absorbing: bool = False
    vocab_size: int

    @abstractmethod
    def limit(self, dtype: torch.dtype = torch.float32, device: Device = None) -> Tensor:
        """The limiting distribution π: ``Tensor[N]``."""

    @abstractmethod
    def sample_limit(self, shape: tuple[int, ...], generator: Gen = None, device: Device = None) -> Tensor:
        """Draw x_1 ~ π: ``LongTensor[shape]``."""

    @abstractmethod
    def score_entropy(self, log_score: Tensor, sigma: Sigma, x_t: Tensor, x0: Tensor) -> Tensor:
        """Denoising score entropy per position, *without* the σ'(t) weight (closed form of
        Σ_{y≠x_t} Q(x_t, y)·[s_y − ρ_y·log s_y + K(ρ_y)], ρ_y = q(y|x0)/q(x_t|x0), K(a) = a(log a − 1)).
        ``log_score: Tensor[*S, N]``, ``x_t, x0: LongTensor[*S]`` -> ``Tensor[*S]``, ≥ 0 and 0 at the true ratio."""

    def _hot(self, i: Tensor, dtype: torch.dtype) -> Tensor:
        return F.one_hot(i, self.vocab_size).to(dtype)

    def limit_at(self, i: Tensor, dtype: torch.dtype) -> Tensor:
        """π_i for ``i: LongTensor[*S]``: ``Tensor[*S, 1]`` (or a tensor that broadcasts to it)."""
        return self.limit(dtype, i.device)[i][..., None]

    def rate(self, i: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """Column i of Q, the forward rates out of i: π − onehot(i). ``LongTensor[*S]`` -> ``Tensor[*S, N]``."""
        return self.limit(dtype, i.device) - self._hot(i, dtype)

    def transp_rate(self, i: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """Row i of Q, the forward rates from every y into i: π_i − onehot(i). -> ``Tensor[*S, N]``."""
        return self.limit(dtype, i.device)[i][..., None] - self._hot(i, dtype)

    def transition(self, i: Tensor, sigma: Sigma) -> Tensor:
        """Column i of exp(σ̄Q) = q(x_t | x0 = i) = e^{−σ̄}·onehot(i) + (1 − e^{−σ̄})·π. -> ``Tensor[*S, N]``."""
        s = _sigma(sigma, i.shape, i.device)[..., None]
        return torch.exp(-s) * self._hot(i, s.dtype) - torch.expm1(-s) * self.limit(s.dtype, i.device)

    def transp_transition(self, i: Tensor, sigma: Sigma) -> Tensor:
        """Row i of exp(σ̄Q) = q(x_t = i | x0 = y) for every y: e^{−σ̄}·onehot(i) + (1 − e^{−σ̄})·π_i."""
        s = _sigma(sigma, i.shape, i.device)[..., None]
        return torch.exp(-s) * self._hot(i, s.dtype) - torch.expm1(-s) * self.limit(s.dtype, i.device)[i][..., None]

    def sample_transition(self, i: Tensor, sigma: Sigma, generator: Gen = None) -> Tensor:
        """Perturb x0 = ``i: LongTensor[*S]`` to x_t ~ q(x_t | x0): with probability 1 − e^{−σ̄} redraw from π."""
        s = _sigma(sigma, i.shape, i.device)
        move = torch.rand(i.shape, generator=generator, device=i.device, dtype=s.dtype) < -torch.expm1(-s)
        return torch.where(move, self.sample_limit(tuple(i.shape), generator, i.device), i)

    def staggered_score(self, score: Tensor, dsigma: Sigma) -> Tensor:
        """exp(−Δσ̄Q)·s = e^{Δσ̄}·s + (1 − e^{Δσ̄})·π·Σ_y s_y for ``score: Tensor[*S, N]`` (ratios): the analytic
        (Tweedie τ-leaping) sampler's estimate of p_{σ̄−Δσ̄}(y)/p_{σ̄}(x). Absorbing: only the MASK entry gains."""
        d = _sigma(dsigma, score.shape[:-1], score.device, "dsigma")[..., None].to(score)
        total = score.sum(dim=-1, keepdim=True)
        return score * d.exp() - torch.expm1(d) * total * self.limit(score.dtype, score.device)

    def reverse_rate(self, i: Tensor, score: Tensor) -> Tensor:
        """Reverse rates out of ``i: LongTensor[*S]``: R̂(i → y) = Q[i, y]·s_y (``transp_rate``), the diagonal set
        to minus the row sum. ``score: Tensor[*S, N]`` (ratios). Multiply by σ'(t)·Δt for an Euler step."""
        r = self.transp_rate(i, dtype=score.dtype) * score
        r = r.scatter(-1, i[..., None], 0.0)
        return r.scatter(-1, i[..., None], -r.sum(dim=-1, keepdim=True))

    def sample_rate(self, i: Tensor, rate: Tensor, generator: Gen = None) -> Tensor:
        """Euler / τ-leaping draw: x' ~ onehot(i) + ``rate`` (already scaled by σ'(t)·Δt)."""
        return sample_categorical(self._hot(i, rate.dtype) + rate, generator)

    # The sampler's fast forms: the predictors' unnormalised probabilities in closed form, one fused pass over
    # [*S, N] each, written into ``score`` (a tensor the caller owns); the definitions above are their reference.
    def movable(self, i: Tensor) -> Tensor | None:
        """``BoolTensor[*S]``: the positions a reverse step can move (π_i > 0), or None for all of them."""
        return None

    def analytic_probs(self, i: Tensor, score: Tensor, dsigma: Tensor) -> Tensor:
        """``staggered_score(score, Δσ̄) · transp_transition(i, Δσ̄)``, overwriting ``score: Tensor[*S, N]``; ``dsigma:
        Tensor[*S]`` in score's dtype. With S = Σ_y s_y, b = (1 − e^{−Δσ̄})·S:
        p_y = π_i(e^{Δσ̄} − 1)·(s_y − b·π_y) + [y = i]·(s_i − b·π_i)."""
        d = dsigma[..., None]
        pi_i = self.limit_at(i, score.dtype)
        b = -torch.expm1(-d) * score.sum(dim=-1, keepdim=True)
        diag = score.gather(-1, i[..., None]) - b * pi_i
        a = pi_i * torch.expm1(d)
        return self._sub_limit(score.mul_(a), a * b).scatter_add_(-1, i[..., None], diag)

    def euler_probs(self, i: Tensor, score: Tensor, scale: Tensor) -> Tensor:
        """``onehot(i) + scale · reverse_rate(i, score)``, overwriting ``score``; ``scale: Tensor[*S]`` = σ'(t)·Δt:
        p_y = c·s_y (y ≠ i), p_i = 1 − c·(S − s_i) with c = scale·π_i."""
        c = scale[..., None] * self.limit_at(i, score.dtype)
        stay = 1 - c * (score.sum(dim=-1, keepdim=True) - score.gather(-1, i[..., None]))
        return score.mul_(c).scatter_(-1, i[..., None], stay)

    def _sub_limit(self, p: Tensor, c: Tensor) -> Tensor:
        """``p −= c·π`` in place, ``c: Tensor[*S, 1]``."""
        return p.addcmul_(c, self.limit(p.dtype, p.device), value=-1)

    def rate_matrix(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """Dense Q: ``Tensor[N, N]`` (for tests and tiny vocabularies)."""
        return self.rate(torch.arange(self.vocab_size), dtype=dtype).T

    def _check_vocab(self) -> None:
        if not isinstance(self.vocab_size, int) or self.vocab_size < 2:
            raise ConfigError(f"vocab_size must be an int >= 2, got {self.vocab_size!r}",
                              "pass len(tokenizer), MASK included")


@GRAPHS.register("absorbing")
class Absorbing(Graph):
    """Every token jumps to MASK at rate 1; MASK stays (π = onehot(MASK)). After σ̄ a token is MASK with
    probability 1 − e^{−σ̄}."""

    absorbing = True

    def __init__(self, vocab_size: int, mask_id: int) -> None:
        self.vocab_size = vocab_size
        self._check_vocab()
        if not isinstance(mask_id, int) or not 0 <= mask_id < vocab_size:
            raise ConfigError(f"mask_id must be an id in [0, {vocab_size}), got {mask_id!r}",
                              "pass tokenizer.vocab.mask_id; vocab_size counts MASK")
        self.mask_id = mask_id

    def limit(self, dtype: torch.dtype = torch.float32, device: Device = None) -> Tensor:
        return F.one_hot(torch.tensor(self.mask_id, device=device), self.vocab_size).to(dtype)

    def movable(self, i: Tensor) -> Tensor | None:
        return i == self.mask_id

    def limit_at(self, i: Tensor, dtype: torch.dtype) -> Tensor:
        return (i == self.mask_id).to(dtype)[..., None]  # one comparison, not a one-hot of the limit

    def _sub_limit(self, p: Tensor, c: Tensor) -> Tensor:
        p.select(-1, self.mask_id).sub_(c[..., 0])  # π = onehot(MASK): one column, in place (no index + copy back)
        return p

    def sample_limit(self, shape: tuple[int, ...], generator: Gen = None, device: Device = None) -> Tensor:
        return torch.full(tuple(shape), self.mask_id, dtype=torch.long, device=device)

    def score_entropy(self, log_score: Tensor, sigma: Sigma, x_t: Tensor, x0: Tensor) -> Tensor:
        # Only MASKed positions have jumps into them (Q(MASK, y) = 1 for y ≠ MASK, else Q(x, y) = 0). Given x0,
        # the one nonzero ratio is ρ_{x0} = e^{−σ̄}/(1 − e^{−σ̄}) = 1/(e^{σ̄} − 1) =: r, so the sum is
        #   Σ_{y≠MASK} e^{s_y} − r·s_{x0} + K(r).   (x0 = MASK, which data never has, gives r = 0 exactly.)
        s = _sigma(sigma, x_t.shape, x_t.device)
        masked = x_t == self.mask_id
        # clamp: σ̄ = 0 would give r = inf, and inf in a branch that `where` discards still poisons the gradient
        r = 1 / torch.expm1(s).clamp(min=torch.finfo(s.dtype).tiny)
        r = torch.where(x0 == self.mask_id, torch.zeros_like(r), r)
        ls = torch.where(masked[..., None], log_score, torch.zeros_like(log_score))  # no exp() overflow elsewhere
        pos = ls.masked_fill(self.limit(torch.bool, ls.device), -math.inf).exp().sum(dim=-1)  # y ≠ MASK
        neg = r * ls.gather(-1, x0[..., None]).squeeze(-1)
        return torch.where(masked, pos - neg + torch.xlogy(r, r) - r, torch.zeros_like(pos))


@GRAPHS.register("uniform")
class Uniform(Graph):
    """Q = (11ᵀ − N·I)/N (π uniform). After σ̄: stay with e^{−σ̄} + (1 − e^{−σ̄})/N, else any token w.p. (1 − e^{−σ̄})/N."""

    absorbing = False

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self._check_vocab()

    def limit(self, dtype: torch.dtype = torch.float32, device: Device = None) -> Tensor:
        return torch.full((self.vocab_size,), 1 / self.vocab_size, dtype=dtype, device=device)

    def sample_limit(self, shape: tuple[int, ...], generator: Gen = None, device: Device = None) -> Tensor:
        return torch.randint(0, self.vocab_size, tuple(shape), generator=generator, device=device)

    def limit_at(self, i: Tensor, dtype: torch.dtype) -> Tensor:
        return torch.full((1,), 1 / self.vocab_size, dtype=dtype, device=i.device)  # the same value for every i

    def score_entropy(self, log_score: Tensor, sigma: Sigma, x_t: Tensor, x0: Tensor) -> Tensor:
        # Q(x_t, y) = 1/N for y ≠ x_t. With E = e^{σ̄} − 1 and a = E/(E + N):
        #   x_t = x0: every ρ_y = a;                               Σ = (1/N)Σ_{y≠x}[e^{s_y} − a·s_y] + (N−1)/N·K(a)
        #   x_t ≠ x0: ρ_{x0} = 1/a = 1 + N/E, the other ρ_y = 1;   Σ = (1/N)Σ_{y≠x}[e^{s_y} − s_y] − s_{x0}/E
        #                                                            + (K(1/a) − (N − 2))/N      (K(1) = −1)
        n = self.vocab_size
        s = _sigma(sigma, x_t.shape, x_t.device)
        em1 = torch.expm1(s).clamp(min=torch.finfo(s.dtype).tiny)  # σ̄ = 0: see Absorbing
        a, inv = em1 / (em1 + n), 1 + n / em1
        at_x = F.one_hot(x_t, n).bool()
        pos = log_score.masked_fill(at_x, -math.inf).exp().sum(dim=-1) / n
        mean_s = log_score.masked_fill(at_x, 0.0).sum(dim=-1) / n
        s_x0 = log_score.gather(-1, x0[..., None]).squeeze(-1)
        same = x_t == x0
        neg = torch.where(same, a * mean_s, mean_s + s_x0 / em1)
        const = torch.where(same, (n - 1) / n * (torch.xlogy(a, a) - a), (inv * (inv.log() - 1) - (n - 2)) / n)
        return pos - neg + const
