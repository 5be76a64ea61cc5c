"""The ``embedding`` backend's generator: a Diffusion-LM model, its Gaussian diffusion, hard faces as fixed
latents and soft faces as gradient guidance → texts plus the one report (``ctrlgen.core.output``).

```python
import ctrlgen
gen = ctrlgen.load("e2e")                 # bundled default, offline
out = gen.generate(n=8, seed=0)
out.texts
```

Hard faces are clamped clean embeddings; ``Contains`` phrases are placed per sample by :meth:`placement_score`
(:mod:`ctrlgen.core.placement`). On a subword (byte-level BPE) model the word-level constraints keep meaning words:
the word layouts of ``Infill`` / ``Prefix`` / ``Suffix`` / ``FixedTokens`` / ``Length`` are placed by the shared
layout search with the same score (:mod:`.placement`), a hole's word-boundary bans restrict the rounding there, and
the word-labelling soft faces (``POS``, ``SyntaxTree``, ``SyntaxSpans``) are refused at prepare time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ctrlgen.backends.embedding.diffusion import DiffusionConfig, GaussianDiffusion
from ctrlgen.backends.embedding.fluency import own_log_likelihood
from ctrlgen.backends.embedding.guidance import Guidance, GuidanceConfig
from ctrlgen.backends.embedding.model import EmbeddingLM
from ctrlgen.backends.embedding.placement import (
    PLACEMENT_DRAWS,
    clean_log_probs,
    placement_score,
)
from ctrlgen.backends.embedding.sampler import (
    EmbeddingSampler,
    FixedEmbeddings,
    StepHook,
    StepOutput,
    round_to_words,
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
    emit_placed,
    place_phrases,
    placed_output,
    with_placements,
)
from ctrlgen.errors import SamplingError
from ctrlgen.models.assets import DEFAULT_MODEL, resolve_model_path
from ctrlgen.models.pretrained import config_section, load_pretrained

PROBE_BATCH = 8  # samples in the forward that budget() times
LEXICON_ROWS, LEXICON_STEPS, LEXICON_SHARE = 128, 50, 0.1  # label_lexicon: own unguided samples it is probed from


def _scaled(guidance: GuidanceConfig | None, scale: float) -> GuidanceConfig | None:
    """``guidance`` (default ``GuidanceConfig()``) with its step size times ``scale``; None for ``scale`` 0 (no
    guidance hook at all: unguided sampling, bit for bit)."""
    if scale == 0:
        return None
    config = guidance or GuidanceConfig()
    return config if scale == 1 else replace(config, step_size=config.step_size * scale)


class EmbeddingGenerator(Generator):
    """A loaded Diffusion-LM model; stateless between calls, so one instance serves many."""

    backend = "embedding"  # the name of this backend (``ctrlgen generate --backend``)

    def __init__(self, model: EmbeddingLM, tokenizer: Any, diffusion: GaussianDiffusion, path: Path | None = None):
        self.model, self.tokenizer, self.diffusion, self.path = model, tokenizer, diffusion, path
        self.lexicons = LabelLexicons(  # probed from this model's own unguided samples, once (ctrlgen.core.lexicon)
            lambda n, seed: self.generate(n=n, steps=min(LEXICON_STEPS, self.diffusion.num_steps), seed=seed).tokens,
            tokenizer.vocab, model.config.seq_len, LEXICON_ROWS, LEXICON_SHARE)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = DEFAULT_MODEL) -> EmbeddingGenerator:
        path = resolve_model_path(name_or_path)
        model, tok, cfg = load_pretrained(path, EmbeddingLM)
        dcfg = config_section(path, cfg, "diffusion", DiffusionConfig)
        return cls(model, tok, GaussianDiffusion.from_config(dcfg), path)

    def prepare(self, constraints: ConstraintLike) -> PreparedConstraint | None:
        """Compile constraints for this model (vocabulary, ``seq_len``, the embedding backend); classifier-backed
        constraints load and check their classifier here (``model=`` context), before any sampling."""
        if constraints is None or constraints == []:
            return None
        context = ModelContext.of(self.model, self.diffusion, self.path, self.tokenizer)
        return prepare(constraints, self.tokenizer, self.model.config.seq_len, "embedding", model=context)

    def _conditioning(self, prepared: PreparedConstraint | None,
                      start: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(mask: BoolTensor[L], values: LongTensor[L], banned: BoolTensor[1, L, V])``: the hard face as fixed
        positions (START at 0 with it, or with ``start``) and the ids rounding may not pick. Always bans MASK
        (never trained on this backend) and UNK (a placeholder for rare training words, useless in output); with
        an END fixed at position e, positions 1..e−1 must hold words (no START/END/PAD there)."""
        device = next(self.model.parameters()).device
        vocab = self.tokenizer.vocab
        L, V = self.model.config.seq_len, len(vocab)
        banned = torch.zeros(1, L, V, dtype=torch.bool, device=device)
        banned[..., [vocab.mask_id, vocab.unk_id]] = True
        mask = torch.zeros(L, dtype=torch.bool, device=device)
        values = torch.zeros(L, dtype=torch.long, device=device)
        if prepared is not None and prepared.hard is not None:
            mask, values = (v.clone() for v in prepared.hard.to_tensors(device))
            ends = [p for p, i in prepared.hard.positions.items() if i == vocab.end_id]
            if ends:
                banned[0, 1:min(ends), [vocab.pad_id, vocab.start_id, vocab.end_id]] = True
        if start or (prepared is not None and prepared.hard is not None):
            mask[0], values[0] = True, vocab.start_id  # every sequence starts with START
        return mask, values, banned

    def _fixed(self, prepared: PreparedConstraint | None) -> FixedEmbeddings:
        """Hard constraints as fixed latents (:meth:`_conditioning`)."""
        return FixedEmbeddings.build(self.model, *self._conditioning(prepared))

    @torch.no_grad()
    def place_phrases(self, prepared: PreparedConstraint | None, n: int,
                      gen: torch.Generator | None) -> tuple[list[HardSpec] | None, torch.Tensor, torch.Tensor,
                                                              torch.Tensor]:
        """``(placements, mask, values, banned)``: per-sample placements of the ``Contains`` leaves and, on a subword
        model, of the word layouts with their holes' word-boundary bans (:func:`ctrlgen.core.placement.place_phrases`,
        scored by :meth:`placement_score`; ``None`` without such a leaf) and the shared conditioning of
        :meth:`_conditioning` (START fixed when anything is placed)."""
        mask, values, banned = self._conditioning(prepared)
        base = {p: int(values[p]) for p in mask.nonzero().flatten().tolist()}
        base.setdefault(0, self.tokenizer.vocab.start_id)
        placed = place_phrases(prepared, self.tokenizer, self.model.config.seq_len, base, n, self.placement_score,
                               gen)
        if placed is not None:
            mask, values, banned = self._conditioning(prepared, start=True)
        return placed, mask, values, banned

    def clean_log_probs(self, taken: Mapping[int, int]) -> torch.Tensor:
        """log q_p(v), ``Tensor[L, V]`` (float64): the model's clean-token prediction at full noise given the ``taken``
        tokens (:func:`.placement.clean_log_probs`, ``PLACEMENT_DRAWS`` noise draws of a fixed seed)."""
        return clean_log_probs(self.model, self.diffusion, self.tokenizer.vocab.mask_id, taken, PLACEMENT_DRAWS)

    def placement_score(self, taken: Mapping[int, int], starts: Sequence[int], ids: Sequence[int]) -> torch.Tensor:
        """log q(run ``ids`` at start s | the ``taken`` tokens) for each s: ``Tensor[S]`` — the factorised clean-token
        prediction at full noise (:func:`.placement.placement_score`, whose doc says why it stands in for the model's
        likelihood); it places ``Contains`` phrases and, on a subword model, the word layouts."""
        return placement_score(self.model, self.diffusion, self.tokenizer.vocab.mask_id, taken, starts, ids)

    def _hook(self, prepared: PreparedConstraint | None, guidance: GuidanceConfig | None,
              hook: StepHook | None) -> StepHook | None:
        """The step hook: gradient guidance by ``guidance`` (None: none) on the soft terms, then ``hook``."""
        hooks: list[StepHook] = []
        if prepared is not None and prepared.soft_terms and guidance is not None:
            hooks.append(Guidance([(term.weight, term.soft) for term in prepared.soft_terms], guidance))
        if hook is not None:
            hooks.append(hook)
        if not hooks:
            return None
        if len(hooks) == 1:
            return hooks[0]

        def chained(out: StepOutput, t: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
            for h in hooks:
                out.x_prev = h(out, t, model)
            return out.x_prev

        return chained

    def generate(self, n: int = 8, steps: int | None = None, seed: int | None = 0, constraints: ConstraintLike = None,
                 guidance: GuidanceConfig | None = None, batch_size: int = 64,
                 sampler: EmbeddingSampler | None = None, hook: StepHook | None = None,
                 return_trajectory: bool = False, progress: bool | None = None, guidance_scale: float = 1.0,
                 device: str | None = None, dtype: str | None = None,
                 on_batch: OnBatch | None = None, lexicon: bool = False) -> GenerationOutput:
        """Sample ``n`` texts with ``steps`` denoising steps (≤ the training T; default ``spec.default_steps``).

        ``constraints``: constraint objects (``Length(12) & Infill(...)``), a list, or spec strings;
        their hard faces are imposed exactly, soft faces steer by gradient guidance, and the check
        face fills ``report["constraints"]``. Same ``seed`` and ``batch_size`` → same texts.
        ``guidance_scale`` multiplies the guidance step size of ``guidance`` (default ``GuidanceConfig()``, whose
        ``step_size`` is 1×); 0 samples unguided, bit for bit. ``sampler`` overrides clamping options; its
        ``steps`` are used when ``steps`` is None, an explicit ``steps`` wins. ``hook`` is called after every
        step. ``device`` / ``dtype`` move the model (in place, as :meth:`to`). Options are validated and the
        budget checked (:meth:`budget`) before any sampling.
        ``on_batch(start, part)`` is called after each finished batch (streaming: :mod:`ctrlgen.core.contract`).
        ``lexicon``: rounding at each position picks only words of the per-word label leaves' labels
        (:mod:`ctrlgen.core.lexicon`; off by default). Reranking by fluency: ``best_of(n, rerank=k, fluency=gen.own_fluency)``."""
        opts = self.options(n=n, steps=steps, sampler_steps=None if sampler is None else sampler.steps, seed=seed,
                            batch_size=batch_size, guidance_scale=guidance_scale, device=device, dtype=dtype,
                            progress=progress, return_trajectory=return_trajectory)
        assert opts.steps is not None  # filled in by options()
        sampler = EmbeddingSampler(steps=opts.steps) if sampler is None else replace(sampler, steps=opts.steps)
        if opts.steps > self.diffusion.num_steps:
            raise SamplingError(f"steps = {opts.steps} exceeds the model's {self.diffusion.num_steps} training steps",
                                f"use 1..{self.diffusion.num_steps}")
        on = self.place(opts)
        self.check_budget(opts)
        prepared = self.prepare(constraints)
        step_hook = self._hook(prepared, _scaled(guidance, opts.guidance_scale), hook)
        gen = self.rng(opts, on)
        t0 = time.perf_counter()
        placed, mask, values, banned = self.place_phrases(prepared, opts.n, gen)  # Contains: per sample, or None
        if lexicon:
            banned = banned | self.lexicon_banned(prepared).to(banned.device)
        fixed = FixedEmbeddings.build(self.model, mask, values, banned)
        tokens, traj, parts = [], [], []
        for start in range(0, opts.n, opts.batch_size):
            b = min(opts.batch_size, opts.n - start)
            if placed is not None:  # this batch's own clamped words ([b, L]; words before the last of them)
                fixed = FixedEmbeddings.build(self.model, *with_placements(mask, values, banned,
                                                                           placed[start:start + b],
                                                                           self.tokenizer.vocab))
            out = sampler.sample(self.model, self.diffusion, b, gen, hook=step_hook,
                                 return_trajectory=opts.return_trajectory, progress=opts.show_progress(), fixed=fixed)
            tokens.append(out.tokens)
            emit_placed(on_batch, start, out.tokens, self.tokenizer, prepared,
                        None if placed is None else placed[start:start + b], parts)
            traj.append(out.trajectory)
        trajectory = decode_trajectory(traj, self.tokenizer) if opts.return_trajectory else None
        call = {"seconds": time.perf_counter() - t0, "steps": sampler.steps, "seed": opts.seed}
        if parts:  # streamed: the batches' own reports merged (the oracles ran once per sample)
            return merge_batches(parts, trajectory, **call)
        return placed_output(torch.cat(tokens), self.tokenizer, prepared, placed, trajectory, **call)

    def own_fluency(self, texts: Sequence[str]) -> list[float]:
        """The model's own fluency of ``texts`` (:func:`~.fluency.own_log_likelihood`: mean log-prob per word, higher
        is more fluent; teacher-free). A ``fluency=`` for :meth:`best_of`. Texts longer than the model's sequence
        are cut to it."""
        L = self.model.config.seq_len
        vocab = self.tokenizer.vocab
        rows = []
        for t in texts:
            ids = [vocab.start_id, *vocab.ids(self.tokenizer.tokenize(t))[:L - 2], vocab.end_id]
            rows.append(ids + [vocab.pad_id] * (L - len(ids)))
        tokens = torch.tensor(rows, dtype=torch.long, device=next(self.model.parameters()).device)
        return own_log_likelihood(self.model, self.diffusion, tokens, vocab.end_id).tolist()

    def label_lexicon(self, leaf: Any) -> dict[str, torch.Tensor]:
        """``label -> BoolTensor[V]`` for ``leaf``'s labeller, probed from ``LEXICON_ROWS`` of this model's own
        unguided samples (seed 0, ``LEXICON_STEPS`` steps), once per loaded model and constraint class."""
        return self.lexicons.lexicon(leaf)

    def lexicon_banned(self, prepared: PreparedConstraint | None) -> torch.Tensor:
        """``BoolTensor[1, L, V]``: what :func:`~ctrlgen.core.lexicon.label_banned` bans under ``prepared``'s
        per-word label leaves (nothing without one)."""
        return self.lexicons.banned(prepared)

    def budget(self, opts: Options) -> tuple[float, int]:
        """``(seconds per sample per step, bytes per sample in flight)``, a lower bound for the denoiser alone.

        Time: one no-grad forward plus the L2 rounding of ``PROBE_BATCH`` samples, timed once per device and dtype
        (:meth:`Generator.probe_seconds`); gradient guidance adds ``num_inner`` classifier passes per step on
        top. Memory: per sample, ``itemsize · seq_len · (8·hidden + heads·seq_len + 2·vocab + 8·embed_dim)``:
        the widest layer activations, one attention map, the rounding scores and the sampler's latents."""
        cfg, param = self.model.config, next(self.model.parameters())
        x = torch.zeros(PROBE_BATCH, cfg.seq_len, cfg.embed_dim, device=param.device, dtype=param.dtype)
        t = torch.zeros(PROBE_BATCH, dtype=torch.long, device=param.device)
        seconds = self.probe_seconds((str(param.device), param.dtype),
                                     lambda: round_to_words(self.model, self.model(x, t), "l2"), PROBE_BATCH)
        width = 8 * cfg.hidden + cfg.heads * cfg.seq_len + 2 * cfg.vocab_size + 8 * cfg.embed_dim
        return seconds, param.dtype.itemsize * cfg.seq_len * width

    def infill(self, template: str, n: int = 4, steps: int | None = None, seed: int | None = 0,
               constraints: ConstraintLike = None, **kw: Any) -> GenerationOutput:
        """Fill the holes of ``template`` (``"The Vaults is a [MASK:3] pub near [MASK] ."``).

        Draws ``n`` samples and orders them by minimum Bayes risk (highest mean sentence-BLEU
        against the other samples first; ``report["mbr"]`` holds the scores), so ``texts[0]`` is
        the MBR choice."""
        c = Infill(template) if constraints is None else Infill(template) & constraints
        return order_by_mbr(self.generate(n=n, steps=steps, seed=seed, constraints=c, **kw))

