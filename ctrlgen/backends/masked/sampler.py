"""LLaDA-style sampling of a mask predictor: start from MASK, reveal a scheduled number of tokens per step.

The model interface is ``model(ids: LongTensor[B, L]) -> logits Tensor[B, L, V]`` with ``mask_id`` and
``vocab_size`` attributes (:class:`MaskPredictor`). The loop, top to bottom (LLaDA's ``generate``, rewritten):

1. the canvas ``x`` holds the given tokens (START, hard faces) and MASK everywhere else; only MASK positions
   ever change, so a given token is never touched (hard faces hold by construction, at every step);
2. the positions are cut into ``L / block_length`` blocks, revealed left to right (semi-autoregressive; one
   block = plain masked diffusion); each block gets ``steps / blocks`` steps (the first ones one more when it does not
   divide), and the number of tokens revealed
   at each step is the block's MASK count split evenly (:func:`tokens_per_step`: LLaDA's linear schedule makes
   the expected number revealed per step constant);
3. each step: logits from one forward (with classifier-free guidance: the conditional and the unconditional
   canvas — the given tokens masked — in one batched forward, ``un + (s + 1)·(cond − un)``), then the ``guide``
   hook (soft constraints); then, at the *candidates* only (the MASK positions of the current block — the only ones
   a step can reveal), the bans, a token drawn per position (from softmax(logits / ``temperature``), greedy at 0),
   scored by the remasking strategy (:data:`REMASKING`), and the ``k`` most confident candidates take their token;
   the others stay MASK ("remasked").

The draw (:func:`draw_tokens`) is an inverse-CDF draw in float32 (:mod:`ctrlgen.core.categorical`): one uniform
per position and one exp per entry, where the float64 Gumbel-max draw it replaces cast the logits to float64 and
took two logs per entry over every position. Low-precision *Gumbel* noise would truncate the noise tail and lower
the effective temperature (arXiv:2409.02908, why LLaDA's code adds Gumbel noise in float64); an inverse-CDF draw
has no tail to truncate — its float32 error is a few ulps of each row's mass (~1e-7), checked against the float64
Gumbel path by ``tests/test_masked_sampler.py::test_draws_match_the_float64_gumbel_path``. The logits are cast
to float32 first (from the model's dtype, bfloat16 included), so the result does not depend on it beyond them.

**Confidence-threshold parallel decoding** (``SamplerConfig.threshold``; Fast-dLLM, Wu et al. 2025,
arXiv:2505.22618, §3.3): at each step every candidate whose drawn token has probability ≥ ``threshold`` under the
step's (guided, banned, temperature-1) logits is revealed as well, beside the scheduled ``k`` (at least one per
row that still has candidates). ``steps`` becomes a ceiling: a block ends as soon as its MASK positions are gone
(the remaining steps of that block are skipped), and a row with nothing left in the block takes no forward at all
(the forward runs on the rows that still have candidates; rows are independent — no batch coupling in the model —
so this changes no row's logits beyond float rounding). Without a guide hook the rows are sliced; with one, the
hook sees the whole batch as before. ``threshold=None`` (the default) runs the fixed schedule bit for bit as
before; ``report["forwards"]`` on the generator's output counts the forwards a call ran.

**Block cache** (``SamplerConfig.cache``; Fast-dLLM §3.2, "DualCache"): at a block's first step one full forward
also keeps every layer's keys and values (``model.prefill``); the block's later steps run the network on the
block's positions only, attending to those cached keys / values for every other position
(``model.block_logits``). The candidates are the block's positions, so only their logits are needed. The prefix
and suffix keys are stale within the block (they attended to the block as it was at its first step): an
approximation, measured rather than assumed (``recipes/speed_vs_ar.py``). Off by default; it needs a model with
``prefill`` / ``block_logits`` (the LLaDA architecture), and no CFG or guide hook (both read the whole canvas).

The config is a frozen dataclass; everything that changes during a call lives in that call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from ctrlgen.backends.masked.diffusion import uniform
from ctrlgen.core.categorical import sample_categorical_
from ctrlgen.errors import SamplingError
from ctrlgen.registry import Registry

#: ``remask(logits: Tensor[R, V] float32, x0: LongTensor[R], generator) -> confidence Tensor[R]``: higher = revealed
#: earlier. One row per candidate position (the current block's MASK positions, row-major over [B, L]): ``logits``
#: are its guided, banned logits (at temperature 1), ``x0`` its drawn token.
RemaskFn = Callable[[Tensor, Tensor, "torch.Generator | None"], Tensor]
#: ``guide(x: LongTensor[B, L], logits: Tensor[B, L, V]) -> Tensor[B, L, V]``: soft constraints (cond_fn style)
Guide = Callable[[Tensor, Tensor], Tensor]
REMASKING: Registry[RemaskFn] = Registry("remasking strategy")


class MaskPredictor(Protocol):
    mask_id: int
    vocab_size: int

    def __call__(self, ids: Tensor) -> Tensor: ...


@REMASKING.register("low_confidence")
def low_confidence(logits: Tensor, x0: Tensor, generator: torch.Generator | None) -> Tensor:
    """The model's probability of the drawn token (LLaDA's default)."""
    return logits.softmax(-1).gather(-1, x0[..., None]).squeeze(-1)


@REMASKING.register("random")
def random(logits: Tensor, x0: Tensor, generator: torch.Generator | None) -> Tensor:
    """Uniform noise: positions are revealed in random order (MDLM's ancestral sampler, in effect)."""
    return uniform(x0.shape, generator, x0.device)


@REMASKING.register("margin")
def margin(logits: Tensor, x0: Tensor, generator: torch.Generator | None) -> Tensor:
    """p(top-1) − p(top-2): a position whose two best tokens are close is revealed later."""
    top = logits.softmax(-1).topk(2, dim=-1).values
    return top[..., 0] - top[..., 1]


@REMASKING.register("entropy")
def entropy(logits: Tensor, x0: Tensor, generator: torch.Generator | None) -> Tensor:
    """−H(p): the least uncertain positions first (0·log 0 taken as 0 for banned tokens)."""
    logp = logits.log_softmax(-1)
    return (logp.exp() * logp.nan_to_num(neginf=0.0)).sum(-1)


def tokens_per_step(masked: Tensor, steps: int) -> Tensor:
    """``masked: BoolTensor[B, M]`` (a block's MASK positions) → ``LongTensor[B, steps]``: how many tokens to reveal
    at each step, ``count // steps`` each and one more in the first ``count % steps`` steps (sums to the count)."""
    count = masked.sum(-1, keepdim=True)
    extra = torch.arange(steps, device=masked.device)[None] < count % steps
    return count // steps + extra.long()


def draw_tokens(logits: Tensor, temperature: float, generator: torch.Generator | None) -> Tensor:
    """A draw from softmax(logits / temperature) per row, argmax at 0: ``logits: Tensor[*S, V]`` (float32 or
    float64; −∞ = never drawn) → ``LongTensor[*S]``. Inverse CDF in the logits' dtype (module doc); ``logits`` is
    left as it is. A row whose entries are all −∞ (everything banned) gives the last id."""
    if temperature == 0:
        return logits.argmax(-1)
    z = logits if temperature == 1 else logits / temperature
    top = z.amax(-1, keepdim=True).clamp_(min=torch.finfo(z.dtype).min)  # all −∞: shift by a finite number, no NaN
    return sample_categorical_((z - top).exp_(), generator)  # a fresh tensor; the largest entry is exactly 1


@dataclass(frozen=True)
class SamplerConfig:
    """How the masked backend samples; every field is checked when built (``SamplingError`` with a hint)."""

    steps: int | None = None  # denoising steps in all; None = the call's / the backend's default
    remasking: str = "low_confidence"  # a name in REMASKING: low_confidence, random, margin, entropy
    block_length: int | None = None  # semi-autoregressive block size (must divide the length); None = the model's
    #                                  default (its config.json ``sampling.block_length``), else one block
    cfg_scale: float = 0.0  # classifier-free guidance s: un + (s + 1)(cond − un); 0 = off (one forward)
    temperature: float = 1.0  # Gumbel temperature of the token draws; 0 = greedy (same texts for every seed)
    threshold: float | None = None  # reveal every candidate with p(drawn token) >= this too; steps = a ceiling
    #                                 (module doc); None = the fixed schedule
    cache: bool = False  # Fast-dLLM's block cache: one full forward per block, then the block's positions only
    #                      (an approximation: module doc); needs a model with prefill / block_logits, no CFG, no guide

    def __post_init__(self) -> None:
        if self.remasking not in REMASKING:
            raise SamplingError(f"unknown remasking strategy {self.remasking!r}",
                                f"pass one of {', '.join(REMASKING)}")
        if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, int)
                                       or self.steps < 1):
            raise SamplingError(f"steps must be a positive integer, got {self.steps!r}", "pass e.g. steps=64")
        b = self.block_length
        if b is not None and (isinstance(b, bool) or not isinstance(b, int) or b < 1):
            raise SamplingError(f"block_length must be a positive integer or None, got {b!r}",
                                "pass e.g. block_length=16 (the canvas length: one block), or None for the model's default")
        for name in ("cfg_scale", "temperature"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise SamplingError(f"{name} must be a finite number >= 0, got {v!r}",
                                    f"pass e.g. {name}={'0.0 (off)' if name == 'cfg_scale' else '1.0, or 0 for greedy'}")

        if not isinstance(self.cache, bool):
            raise SamplingError(f"cache must be True or False, got {self.cache!r}", "cache=True for the block cache")
        t = self.threshold
        if t is not None and (isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= 1):
            raise SamplingError(f"threshold must be a probability in (0, 1] or None, got {t!r}",
                                "pass e.g. threshold=0.9 (Fast-dLLM's parallel decoding), or None for the fixed schedule")

    def schedule(self, length: int, steps: int) -> tuple[int, list[int]]:
        """``(blocks, steps of each block)`` for a canvas of ``length`` positions and ``steps`` steps: as even as
        possible, the first blocks taking one more when ``steps`` does not divide (LLaDA needs a multiple; a user
        asking for 50 steps should not have to know the block count). ``SamplingError`` (before any network runs)
        when ``block_length`` does not divide ``length`` or there are fewer steps than blocks."""
        block = self.block_length or length
        if length % block:
            divisors = [d for d in range(1, length + 1) if length % d == 0]
            raise SamplingError(f"block_length={block} does not divide the sequence length {length}",
                                f"pass a divisor of {length}: {', '.join(map(str, divisors))} (or None)")
        blocks = length // block
        if steps < blocks:
            raise SamplingError(f"steps={steps} is fewer than the {blocks} blocks of length {block}: every block "
                                "needs a step", f"pass steps >= {blocks}, or a longer block_length")
        return blocks, [steps // blocks + (b < steps % blocks) for b in range(blocks)]


@dataclass
class SampleOutput:
    tokens: Tensor  # LongTensor[B, L] final ids; given positions untouched
    trajectory: list[Tensor] = field(default_factory=list)  # LongTensor[B, L] after each step (MASK where hidden)
    forwards: int = 0  # steps that ran a forward (= steps without a threshold)
    row_forwards: int = 0  # rows × forwards actually computed (= B · steps without a threshold)


@torch.no_grad()
def sample(model: MaskPredictor, x: Tensor, config: SamplerConfig, steps: int, *,
           given: Tensor | None = None, banned: Tensor | None = None, guide: Guide | None = None,
           generator: torch.Generator | None = None, return_trajectory: bool = False,
           progress: bool = False) -> SampleOutput:
    """Fill the MASK positions of ``x: LongTensor[B, L]`` in ``steps`` forwards (exactly, without a threshold: a
    step with nothing to reveal still runs, so the cost is known up front; with ``config.threshold``, at most
    ``steps``: module doc).

    ``given: BoolTensor[B | 1, L]``: the conditioning tokens that the unconditional CFG pass masks (default: every
    non-MASK position of ``x``); ``banned: BoolTensor[1 | B, L, V]``: ids never drawn at a position (MASK is
    always banned); ``guide``: the soft-constraint hook on the logits. ``x`` is not modified."""
    from tqdm.auto import tqdm  # lazy: start-up speed

    blocks, block_steps = config.schedule(x.shape[1], steps)
    width = x.shape[1] // blocks
    x, mask_id = x.clone(), model.mask_id
    given = (x != mask_id) if given is None else given.expand_as(x)
    use_cfg = config.cfg_scale > 0 and bool(given.any())  # nothing given: cond == uncond, one forward
    pos = torch.arange(x.shape[1], device=x.device)
    # MASK joins the bans once per call (not a column write per step); [1 | B, L, V], drawn per candidate row
    ban = torch.zeros(1, *x.shape[1:], model.vocab_size, dtype=torch.bool, device=x.device) if banned is None \
        else banned.to(x.device, copy=True)
    ban[..., mask_id] = True
    if config.cache and (use_cfg or guide is not None or not hasattr(model, "block_logits")):
        why = "classifier-free guidance reads the whole canvas" if use_cfg else \
            "a guide hook reads the whole canvas" if guide is not None else \
            f"{type(model).__name__} has no prefill / block_logits"
        raise SamplingError(f"the block cache cannot serve this call: {why}",
                            "turn the cache off (SamplerConfig(cache=False); no --block-cache), or drop cfg_scale / "
                            "soft constraints")
    step = _Step(model, REMASKING.get(config.remasking), config.cfg_scale if use_cfg else 0.0, guide,
                 config.temperature, config.threshold, generator)
    traj: list[Tensor] = []
    forwards = row_forwards = 0
    bar = tqdm(total=steps, disable=not progress, desc="sampling", leave=False)
    for b in range(blocks):
        in_block = (pos >= b * width) & (pos < (b + 1) * width)  # BoolTensor[L]
        per_block = block_steps[b]
        k_steps = tokens_per_step((x == mask_id) & in_block, per_block)  # [B, per_block]
        if config.cache:
            step.model = _BlockCache(model, b * width, (b + 1) * width)
        for i in range(per_block):
            cand = (x == mask_id) & in_block  # the positions this step can reveal
            if config.threshold is None:
                if config.cache:
                    step.model.rows = torch.arange(x.shape[0], device=x.device)
                x = step(x, cand, given, ban, k_steps[:, i])
                row_forwards += x.shape[0]
            else:  # only the rows with something left in the block; none left: the block is done
                live = cand.any(1)
                if not bool(live.any()):
                    bar.update(per_block - i)
                    break
                if guide is not None or bool(live.all()):  # a guide reads the whole batch
                    if config.cache:
                        step.model.rows = torch.arange(x.shape[0], device=x.device)
                    x = step(x, cand, given, ban, k_steps[:, i].clamp(min=1))
                    row_forwards += x.shape[0]
                else:
                    rows = live.nonzero().squeeze(1)
                    if config.cache:
                        step.model.rows = rows
                    x = x.clone()
                    x[rows] = step(x[rows], cand[rows], given[rows], ban if ban.shape[0] == 1 else ban[rows],
                                   k_steps[rows, i].clamp(min=1))
                    row_forwards += rows.numel()
            forwards += 1
            if return_trajectory:
                traj.append(x.clone())
            bar.update()
    bar.close()
    return SampleOutput(tokens=x, trajectory=traj, forwards=forwards, row_forwards=row_forwards)


class _BlockCache:
    """``model`` seen through the block cache for the block ``[start, end)`` (module doc): called like the model on
    ``ids: LongTensor[b, L]`` — the batch rows ``rows`` — it prefills at its first call and computes the block's
    positions only after that; the logits outside the block are −∞ (no candidate is there)."""

    def __init__(self, model: MaskPredictor, start: int, end: int) -> None:
        self.model, self.start, self.end = model, start, end
        self.mask_id, self.vocab_size = model.mask_id, model.vocab_size
        self.rows: Tensor | None = None  # the batch rows of the next call's ids (set by the sampler)
        self.cache: list[tuple[Tensor, Tensor]] | None = None
        self.cached_rows: Tensor | None = None

    def __call__(self, ids: Tensor) -> Tensor:
        assert self.rows is not None
        if self.cache is None:
            logits, self.cache = self.model.prefill(ids)  # type: ignore[attr-defined]
            self.cached_rows = self.rows
            return logits
        assert self.cached_rows is not None
        at = torch.searchsorted(self.cached_rows, self.rows)  # later rows ⊆ the rows of the prefill
        kv = self.cache if at.numel() == self.cached_rows.numel() else [(k[at], v[at]) for k, v in self.cache]
        block = self.model.block_logits(ids[:, self.start:self.end], self.start, kv)  # type: ignore[attr-defined]
        out = block.new_full((*ids.shape, block.shape[-1]), float("-inf"))
        out[:, self.start:self.end] = block
        return out


class _Step:
    """One reveal step of :func:`sample` on ``x: LongTensor[B, L]``: a forward, the bans, a draw per candidate, and
    the ``k: LongTensor[B]`` most confident candidates of each row revealed (with a threshold: also every candidate
    whose drawn token has probability ≥ it). Returns a new ``x``."""

    def __init__(self, model: MaskPredictor, remask: RemaskFn, cfg_scale: float, guide: Guide | None,
                 temperature: float, threshold: float | None, generator: torch.Generator | None) -> None:
        self.model, self.remask, self.cfg_scale, self.guide = model, remask, cfg_scale, guide
        self.temperature, self.threshold, self.generator = temperature, threshold, generator

    def __call__(self, x: Tensor, cand: Tensor, given: Tensor, ban: Tensor, k: Tensor) -> Tensor:
        rows = cand.reshape(-1).nonzero().squeeze(1)  # LongTensor[R], row-major over [B, L]
        z = _candidate_logits(self.model, x, given, rows, self.cfg_scale, self.guide)
        z.masked_fill_(_rows(ban, rows, x.shape), float("-inf"))
        x0 = draw_tokens(z, self.temperature, self.generator)
        conf = self.remask(z, x0, self.generator).nan_to_num(nan=-1e30, neginf=-1e30, posinf=1e30)  # [R], finite
        confidence = torch.full(x.shape, float("-inf"), dtype=conf.dtype, device=x.device)  # others rank last
        confidence.view(-1)[rows] = conf
        order = confidence.argsort(dim=-1, descending=True, stable=True)
        pos = torch.arange(x.shape[1], device=x.device)
        reveal = torch.zeros_like(cand).scatter_(1, order, pos[None] < k[:, None])
        if self.threshold is not None:  # and every candidate whose draw is probable enough (Fast-dLLM)
            p = conf if self.remask is low_confidence else z.softmax(-1).gather(-1, x0[:, None]).squeeze(1)  # [R]
            sure = torch.zeros_like(cand)
            sure.view(-1)[rows] = p >= self.threshold
            reveal |= sure
        return torch.where(reveal, x.masked_scatter(cand, x0), x)  # reveal ⊆ candidates (they rank first)


def _rows(t: Tensor, rows: Tensor, shape: torch.Size) -> Tensor:
    """The rows ``rows`` (flat indices over ``shape`` = [B, L]) of ``t: Tensor[1 | B, L, V]``: ``Tensor[R, V]``,
    without expanding a shared ``[1, L, V]`` to the batch."""
    if t.shape[0] == 1:
        return t[0, rows % shape[1]]
    return t.reshape(-1, t.shape[-1])[rows]


def _candidate_logits(model: MaskPredictor, x: Tensor, given: Tensor, rows: Tensor, cfg_scale: float,
                      guide: Guide | None) -> Tensor:
    """The float32 logits of the candidate rows ``rows`` of ``x: LongTensor[B, L]``: ``Tensor[R, V]``, a fresh
    tensor. One forward (two canvases in one batch with CFG: ``un + (s + 1)·(cond − un)``); the ``guide`` hook reads
    the whole ``[B, L, V]`` logits, so with a guide CFG is combined over every position, without one only the rows."""
    if cfg_scale > 0:
        both = model(torch.cat([x, x.masked_fill(given, model.mask_id)]))
        if guide is None:
            n = x.numel()
            cond, un = both.reshape(2 * n, -1)[torch.cat([rows, rows + n])].float().chunk(2)
            return un + (cfg_scale + 1) * (cond - un)
        cond, un = both.chunk(2)
        logits = un + (cfg_scale + 1) * (cond - un)
    else:
        logits = model(x)
    if guide is not None:
        logits = guide(x, logits)
    return logits.reshape(-1, logits.shape[-1])[rows].float()
