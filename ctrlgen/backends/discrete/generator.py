"""The ``discrete`` backend: a SEDD score model with exact conditioning.

```python
import ctrlgen
from ctrlgen import Infill, Length

gen = ctrlgen.load("e2e-sedd")                        # absorbing graph, log-linear noise
gen.generate(n=4, steps=128, constraints=Length(14)).texts
gen.infill("The Vaults is a [MASK:3] pub near [MASK] .", n=4).texts   # best (MBR) first
```

Hard faces (``Infill``, ``Prefix``, ``Suffix``, ``FixedTokens``, ``Length``) become a projection applied before
every sampler step and to the output (``samplers.sedd``): exact Bayesian conditioning for the absorbing graph,
with no retraining. Every sequence starts with ``[START]`` (as in training), also fixed by projection. On a subword
(BPE) model those faces mean words: their subword layout — each hole's length, ``[END]``'s position — is drawn per
sample from :meth:`placement_score` (:func:`ctrlgen.core.placement.place_layouts`; word-boundary bans keep a hole of
k words at exactly k words, :mod:`ctrlgen.core.subword_layout`), then projected the same way.

Two token bans, applied to the score (log-score −∞ for a banned id, so its reverse rate is 0 and the final
denoise step never draws it): MASK and UNK everywhere (UNK stands for rare training words and is useless in
output), and with an ``[END]`` fixed at position e, PAD/START/END at positions 1..e−1 (the words before a fixed
end must be words). A ban conditions the sampler on "not that token" — exact for the final step, a close
approximation along the way (the same thing the embedding backend does in rounding).

Soft faces: ``soft:token`` faces steer by first-order rate reweighting (``ctrlgen.backends.discrete.guidance``), with
strength ``guidance_scale``; the ``guidance_shortlist`` (default 8 on-move, 4 every-step) likeliest jumps of each
masked position get the exact likelihood ratio instead of the first-order one (0: first order only).
``guidance_mode``: on the absorbing graph the default ``"on-move"`` pays the ratios only at the positions a step
unmasks (``ctrlgen.backends.discrete.move_guidance``: the step is drawn unguided, the moved positions' tokens are
redrawn from the guided rates; 2.4× an unguided call instead of 18×); ``"every-step"`` reweights every masked
position's rates at every step (the uniform graph's only mode). ``SemanticField`` uses the token-space classifier
saved beside the model
(``semantic-token.v1``, ``<model>/classifiers/semantic``; ``ctrlgen train-classifier semantic --model e2e-sedd``).
A constraint whose only soft face reads embedding latents (``soft:embedding``) has no
use here and raises ``UnsupportedConstraintError`` at prepare time, naming the backend that supports it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ctrlgen.backends.discrete.banned import BannedTokens
from ctrlgen.backends.discrete.diffusion import (
    DiscreteDiffusion,
    DiscreteDiffusionConfig,
)
from ctrlgen.backends.discrete.guidance import RateGuidance, check_shortlist
from ctrlgen.backends.discrete.model import ScoreModel
from ctrlgen.backends.discrete.move_guidance import OnMoveGuidance
from ctrlgen.backends.discrete.requests import sample_requests
from ctrlgen.backends.discrete.sampler import (
    DTYPES,
    Projector,
    SEDDSampler,
    fixed_tokens_projector,
)
from ctrlgen.constraints.base import HardSpec
from ctrlgen.constraints.composition import ConstraintLike, PreparedConstraint, prepare
from ctrlgen.constraints.fingerprint import ModelContext
from ctrlgen.constraints.infill import Infill
from ctrlgen.core.contract import Generator, OnBatch, merge_batches
from ctrlgen.core.lexicon import LabelLexicons
from ctrlgen.core.mbr import order_by_mbr
from ctrlgen.core.options import Options
from ctrlgen.core.output import GenerationOutput, decode_trajectory
from ctrlgen.core.placement import (
    chain_rule_score,
    emit_placed,
    place_phrases,
    placed_output,
    token_conditioning,
    with_placements,
)
from ctrlgen.core.requests import OnRequest
from ctrlgen.errors import CheckpointError, SamplingError
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import config_section, load_pretrained

PROBE_BATCH = 8  # samples in the forward that budget() times
GUIDANCE_MODES = ("on-move", "every-step")  # rate guidance where the step moves (move_guidance) or at every step
#: default guidance_shortlist per mode, from recipes/results/bench_guidance_cost_discrete.json (8 targets × 8, γ = 1):
#: on-move k = 8 is 2.4× unguided at 42% satisfied; every-step k = 4 (the old default) 18× at 36%
SHORTLIST = {"on-move": 8, "every-step": 4}
LEXICON_STEPS = 64  # lexicon=True: the own unguided samples the label lexicons are probed from take this many steps


class DiscreteGenerator(Generator):
    """A loaded SEDD model; stateless between calls, so one instance serves many."""

    backend = "discrete"  # the name of this backend (``ctrlgen generate --backend``)
    mixes_requests = True  # every row has its own fixed tokens and bans (:mod:`.requests`)

    def __init__(self, model: ScoreModel, tokenizer: Any, diffusion: DiscreteDiffusion, path: Path | None = None):
        self.model, self.tokenizer, self.diffusion, self.path = model.eval(), tokenizer, diffusion, path
        self.lexicons = LabelLexicons(  # lexicon=True: probed from this model's own unguided samples, once
            lambda n, seed: self.generate(n=n, steps=LEXICON_STEPS, seed=seed).tokens, tokenizer.vocab,
            model.config.seq_len)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = "e2e-sedd") -> DiscreteGenerator:
        path = resolve_model_path(name_or_path)
        model, tok, cfg = load_pretrained(path, ScoreModel)
        dcfg = config_section(path, cfg, "diffusion", DiscreteDiffusionConfig)
        if (dcfg.graph == "absorbing") != (model.config.graph == "absorbing"):
            raise CheckpointError(f"{path / 'config.json'}: model.graph {model.config.graph!r} does not match "
                                  f"diffusion.graph {dcfg.graph!r}", "retrain or fix the config")
        return cls(model, tok, DiscreteDiffusion.from_config(dcfg, len(tok), tok.vocab.mask_id), path)

    def prepare(self, constraints: ConstraintLike) -> PreparedConstraint | None:
        """Compile constraints for this model (vocabulary, ``seq_len``, the discrete backend)."""
        if constraints is None or constraints == []:
            return None
        context = ModelContext.of(self.model, self.diffusion, self.path, self.tokenizer)
        return prepare(constraints, self.tokenizer, self.model.config.seq_len, "discrete", model=context)

    def conditioning(self, prepared: PreparedConstraint | None) -> tuple[Tensor, Tensor, Tensor]:
        """``(fixed: BoolTensor[L], values: LongTensor[L], banned: BoolTensor[1, L, N])`` for this model:
        START at 0 plus the hard face; the bans of the module doc."""
        return token_conditioning(prepared, self.tokenizer.vocab, self.model.config.seq_len, len(self.tokenizer.vocab))

    def generate(self, n: int = 8, steps: int | None = None, seed: int | None = 0, constraints: ConstraintLike = None,
                 batch_size: int = 64, sampler: SEDDSampler | None = None, guidance_scale: float = 1.0,
                 guidance_shortlist: int | None = None, guidance_demote: bool | None = None,
                 guidance_mode: str | None = None,
                 return_trajectory: bool = False, progress: bool | None = None,
                 device: str | None = None, dtype: str | None = None,
                 on_batch: OnBatch | None = None, lexicon: bool = False) -> GenerationOutput:
        """Sample ``n`` texts with ``steps`` predictor steps (default ``spec.default_steps``; analytic by default:
        pass ``sampler`` for Euler, float32 or another eps — its ``steps`` are used when ``steps`` is None, an
        explicit ``steps`` wins). Hard faces of ``constraints`` hold exactly in every output; ``soft:token``
        faces reweight the rates with strength ``guidance_scale`` = γ (0: unguided, bit for bit), exactly for the
        ``guidance_shortlist`` likeliest jumps per masked position (default: :data:`SHORTLIST` of the mode, 8
        on-move, 4 every-step; ``guidance_demote=True``: the jumps outside the
        shortlist may only lose rate — much more fluent under a per-position tagger such as ``POS``'s
        ``pos-token.v1``; default: ``RateGuidance.demote_outside``, off), paid where a step unmasks a token
        (``guidance_mode="on-move"``, the default on the absorbing graph) or at every step (``"every-step"``,
        the uniform graph's default and only mode); the check face fills
        ``report["constraints"]``. Same ``seed`` and ``batch_size`` → same texts. ``device`` / ``dtype`` move the
        model (in place, as :meth:`to`). Options are validated and the budget checked (:meth:`budget`) before
        any sampling.
        ``on_batch(start, part)`` is called after each finished batch (streaming: :mod:`ctrlgen.core.contract`).
        ``lexicon=True``: every labelled word position of a per-word label constraint (``POS``, ``SyntaxTree``)
        draws only words its labeller gave that label in this model's own samples, and the word count is fixed
        (:mod:`ctrlgen.core.lexicon`; the bans join the hard faces'); off by default."""
        if not isinstance(lexicon, bool):
            raise SamplingError(f"lexicon must be True or False, got {lexicon!r}", "lexicon=True for POS / SyntaxTree")
        opts = self.options(n=n, steps=steps, sampler_steps=None if sampler is None else sampler.steps, seed=seed,
                            batch_size=batch_size, guidance_scale=guidance_scale, device=device, dtype=dtype,
                            progress=progress, return_trajectory=return_trajectory)
        assert opts.steps is not None  # filled in by options()
        mode = self._guidance_mode(guidance_mode)
        guidance_shortlist = SHORTLIST[mode] if guidance_shortlist is None else guidance_shortlist
        check_shortlist(guidance_shortlist)  # up front: wrong even where no soft constraint would read it
        if guidance_demote is not None and not isinstance(guidance_demote, bool):
            raise SamplingError(f"guidance_demote must be True, False or None, got {guidance_demote!r}",
                                "guidance_demote=True for per-position taggers such as POS")
        sampler = SEDDSampler(steps=opts.steps) if sampler is None else replace(sampler, steps=opts.steps)
        on = self.place(opts)
        self.check_budget(opts, sampler)
        prepared = self.prepare(constraints)
        fixed, values, banned = self.conditioning(prepared)
        if lexicon:
            banned = banned | self.lexicons.banned(prepared).to(banned.device)
        guidance = None
        if prepared is not None and prepared.soft_terms:  # scale 0: the model's scores untouched, bit for bit
            mask_id = self.tokenizer.vocab.mask_id if self.diffusion.graph.absorbing else None
            guidance = RateGuidance(self.model, [(t.weight, t.soft) for t in prepared.soft_terms],
                                    opts.guidance_scale, shortlist=guidance_shortlist,
                                    demote_outside=guidance_demote, mask_id=mask_id)
        gen = self.rng(opts, on)
        model, projector = self._wrap(guidance, mode, banned, fixed, values, gen)
        t0 = time.perf_counter()
        placed = self.place_phrases(prepared, fixed, values, opts.n, gen)  # per-sample hard specs (Contains), or None
        tokens, traj, parts = [], [], []
        for start in range(0, opts.n, opts.batch_size):
            b = min(opts.batch_size, opts.n - start)
            if placed is not None:  # this batch's own fixed words, and words (not END/PAD) before the last of them
                f, v, ban = with_placements(fixed, values, banned, placed[start:start + b], self.tokenizer.vocab)
                model, projector = self._wrap(guidance, mode, ban.to(on), f, v, gen)
            out = sampler.sample(model, self.diffusion, b, None, gen,
                                 projector=projector, return_trajectory=opts.return_trajectory,
                                 progress=opts.show_progress())
            tokens.append(out.tokens)
            emit_placed(on_batch, start, out.tokens, self.tokenizer, prepared,
                        None if placed is None else placed[start:start + b], parts)
            traj.append(out.trajectory)
        trajectory = decode_trajectory(traj, self.tokenizer) if opts.return_trajectory else None
        call = {"seconds": time.perf_counter() - t0, "steps": sampler.steps, "seed": opts.seed,
                "predictor": sampler.predictor}
        if parts:  # streamed: the batches' own reports merged (the oracles ran once per sample)
            return merge_batches(parts, trajectory, **call)
        return placed_output(torch.cat(tokens), self.tokenizer, prepared, placed, trajectory, **call)

    def _guidance_mode(self, mode: str | None) -> str:
        """``guidance_mode`` resolved: None → ``"on-move"`` on the absorbing graph, else ``"every-step"``."""
        if mode is None:
            return "on-move" if self.diffusion.graph.absorbing else "every-step"
        if mode not in GUIDANCE_MODES:
            raise SamplingError(f"guidance_mode must be one of {GUIDANCE_MODES}, got {mode!r}",
                                "leave it None for on-move guidance where the graph allows it")
        if mode == "on-move" and not self.diffusion.graph.absorbing:
            raise SamplingError("guidance_mode='on-move' needs the absorbing graph", "use guidance_mode='every-step'")
        return mode

    def _wrap(self, guidance: RateGuidance | None, mode: str, banned: Tensor, fixed: Tensor, values: Tensor,
              gen: torch.Generator | None) -> tuple[nn.Module, Projector]:
        """The score model the sampler calls (bans applied, ``guidance`` in ``mode``) and its projector."""
        projector = fixed_tokens_projector(fixed, values)
        if guidance is None:
            return BannedTokens(self.model, banned), projector
        if mode == "every-step":
            return BannedTokens(guidance, banned), projector
        on_move = OnMoveGuidance(BannedTokens(self.model, banned), guidance, gen)
        return on_move, on_move.projector(projector)

    def sample_requests(self, items: Sequence[tuple[PreparedConstraint | None, int]], *,
                        on_request: OnRequest | None = None, **kwargs: Any) -> None:
        """Requests with different hard faces in shared batches (:func:`.requests.sample_requests`)."""
        sample_requests(self, items, on_request, **kwargs)

    @torch.no_grad()
    def place_phrases(self, prepared: PreparedConstraint | None, fixed: Tensor, values: Tensor, n: int,
                      gen: torch.Generator | None) -> list[HardSpec] | None:
        """Per-sample placements of the ``Contains`` leaves (:func:`ctrlgen.core.placement.place_phrases`), or
        ``None`` when there are none, scored by :meth:`placement_score` given ``fixed``/``values`` (``[L]``: START
        and the merged hard face) and the leaves placed before."""
        base = {p: int(values[p]) for p in fixed.nonzero().flatten().tolist()}
        return place_phrases(prepared, self.tokenizer, self.model.config.seq_len, base, n, self.placement_score,
                             gen)

    @torch.no_grad()
    def placement_score(self, taken: Mapping[int, int], starts: Sequence[int], ids: Sequence[int]) -> Tensor:
        """log p(phrase ``ids`` at start s | the ``taken`` tokens, the rest unknown) for each s: ``Tensor[S]``.

        The chain rule over the phrase's words, one batched forward per word at full noise (σ̄(1), all else
        MASK): log p(w_0 at s | taken) + log p(w_1 at s+1 | taken, w_0) + …, each term the denoiser's clean-token
        prediction at a masked position (the absorbing score, normalised over the non-MASK ids: for this graph it
        is p(x_0 | unmasked tokens), independent of σ̄). A word already in place contributes 0. The first word's
        terms come from one forward of a single row (all starts see the same sequence then)."""
        device = next(self.model.parameters()).device
        sigma = self.diffusion.noise(torch.ones(1, dtype=torch.float64))[0].to(device).expand(len(starts))
        return chain_rule_score(lambda batch: self.model(batch, sigma[: batch.shape[0]]), taken, starts, ids,
                                self.model.config.seq_len, self.tokenizer.vocab, device)

    def budget(self, opts: Options, sampler: SEDDSampler | None = None) -> tuple[float, int]:
        """``(seconds per sample per step, bytes per sample in flight)``, a lower bound for the score model alone.

        Time: one no-grad forward of ``PROBE_BATCH`` all-MASK samples plus the exp of its log-scores in the
        sampler's dtype, timed once per device and dtypes (:meth:`Generator.probe_seconds`); rate guidance adds
        classifier passes on top (about 1.4× more on-move with k = 8; about 17× more every-step with k = 4).
        Memory: per sample,
        ``seq_len · (itemsize · (8·hidden + heads·seq_len + vocab) + 6 · 8 · vocab)``: the widest layer
        activations, one attention map, the log-scores and about six ``[seq_len, vocab]`` tensors of the step
        math in float64 (score, staggered score, transition, probabilities, uniform draws)."""
        cfg, param = self.model.config, next(self.model.parameters())
        math_dtype = DTYPES[(sampler or SEDDSampler()).dtype]
        x = torch.full((PROBE_BATCH, cfg.seq_len), self.tokenizer.vocab.mask_id, device=param.device)
        sigma = torch.ones(PROBE_BATCH, device=param.device)
        seconds = self.probe_seconds((str(param.device), param.dtype, math_dtype),
                                     lambda: self.model(x, sigma).to(math_dtype).exp(), PROBE_BATCH)
        per_position = param.dtype.itemsize * (8 * cfg.hidden + cfg.heads * cfg.seq_len + cfg.vocab_size)
        return seconds, cfg.seq_len * (per_position + 6 * math_dtype.itemsize * cfg.vocab_size)

    def check_budget(self, opts: Options, sampler: SEDDSampler | None = None) -> None:
        """:meth:`Generator.check_budget` with the estimate for ``sampler``'s step dtype."""
        seconds, memory = self.budget(opts, sampler)
        opts.check_budget(cost_per_step_s=seconds, memory_per_sample_bytes=memory,
                          default_steps=self.spec.default_steps)

    def infill(self, template: str, n: int = 4, steps: int | None = None, seed: int | None = 0,
               constraints: ConstraintLike = None, **kw: Any) -> GenerationOutput:
        """Fill the holes of ``template`` exactly conditioned on its words; samples ordered by minimum Bayes
        risk (``report["mbr"]``), so ``texts[0]`` is the MBR choice."""
        c = Infill(template) if constraints is None else Infill(template) & constraints
        return order_by_mbr(self.generate(n=n, steps=steps, seed=seed, constraints=c, **kw))

