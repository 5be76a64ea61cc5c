"""The ``masked`` backend: a mask predictor sampled LLaDA-style (:mod:`.sampler`).

```python
import ctrlgen
from ctrlgen import Length
from ctrlgen.backends.masked.sampler import SamplerConfig

gen = ctrlgen.load("e2e-masked")       # or a checkpoint directory whose config.json has model_type "llada"
gen.generate(n=4, constraints=Length(14), sampler=SamplerConfig(remasking="margin", block_length=16)).texts
gen.infill("The Vaults is a [MASK:3] pub near [MASK] .", n=4).texts   # best (MBR) first
```

**Hard faces** (``Infill``, ``Prefix``, ``Suffix``, ``FixedTokens``, ``Length`` via END/PAD, ``Contains`` placed per
sample by the model's own likelihood, :mod:`ctrlgen.core.placement`) are tokens written into the canvas before
the first step; the sampler only ever changes MASK positions, so they hold at every step and in every output.
On a subword (BPE) model those faces mean words, as on the discrete backend: their subword layout — each hole's
length (k words: k whole-word subwords by default, :mod:`ctrlgen.core.subword_layout`), ``[END]``'s position — is
drawn per sample from :meth:`placement_score` (:func:`ctrlgen.core.placement.place_layouts`), with word-boundary
bans that make a hole of k words hold exactly k words, then written into the canvas the same way
(``tests/test_masked_subword.py``; ``ctrlgen.load("e2e-masked-bpe")`` is such a model).
Conditioning a masked model on known tokens by leaving them unmasked is exact for the model's own p(x_0 | x_t)
(it was trained on exactly such inputs). Every sequence starts with ``[START]``, also given.

Bans (logits −∞, never drawn): MASK and UNK everywhere, START after position 0, and with an ``[END]`` fixed at
position e, PAD/START/END at positions 1..e−1 (the words before a fixed end must be words), as the discrete backend.

**Classifier-free guidance** (``SamplerConfig.cfg_scale``) contrasts the canvas with its hard-fixed tokens masked
(START kept: it is in every training sequence, not a condition); without hard-fixed tokens there is nothing to
contrast and it is skipped. **Soft faces** (``soft:token``) steer the logits by first-order logit guidance
(:mod:`.guidance`) with strength ``guidance_scale`` (0: unguided, bit for bit). A constraint whose only soft face
reads embedding latents raises ``UnsupportedConstraintError`` at prepare time, naming the backend that supports it.
``edit`` is not served (``UnsupportedOperationError`` naming the backend that does).

Any mask predictor serves, e.g. a released LLaDA read by ``LLaDAModel.from_reference(dir)`` (``ctrlgen.load`` reads
ctrlgen checkpoints only): ``MaskedGenerator(model, tokenizer, seq_len=128)`` with a tokenizer whose
``vocab.mask_id`` is the model's MASK (``seq_len`` is needed when the model's config has none).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ctrlgen.backends.masked.diffusion import MaskedDiffusion, MaskedDiffusionConfig
from ctrlgen.backends.masked.guidance import LogitGuidance
from ctrlgen.backends.masked.requests import sample_requests
from ctrlgen.backends.masked.sampler import SamplerConfig, sample
from ctrlgen.constraints.base import HardSpec
from ctrlgen.constraints.composition import ConstraintLike, PreparedConstraint, prepare
from ctrlgen.constraints.fingerprint import ModelContext
from ctrlgen.constraints.infill import Infill
from ctrlgen.core.contract import Generator, OnBatch, merge_batches
from ctrlgen.core.mbr import order_by_mbr
from ctrlgen.core.options import Options
from ctrlgen.core.output import GenerationOutput, decode_trajectory
from ctrlgen.core.placement import (
    base_tokens,
    chain_rule_score,
    emit_placed,
    place_phrases,
    placed_output,
    token_conditioning,
    with_placements,
)
from ctrlgen.core.requests import OnRequest
from ctrlgen.errors import CheckpointError, ConfigError, CtrlgenError
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import config_section, load_pretrained, read_config
from ctrlgen.registry import BACKENDS, resolve

PROBE_BATCH = 8  # samples in the forward that budget() times


@dataclass
class SamplingDefaults:
    """The ``sampling`` section of a masked checkpoint's ``config.json``: what a call uses when it leaves a field out."""

    block_length: int | None = None  # semi-autoregressive block size measured best for this model; None = one block


class MaskedGenerator(Generator):
    """A loaded mask predictor (``model(ids) -> logits``, ``mask_id``, ``vocab_size``, ``config.seq_len``) and its
    tokenizer; stateless between calls, so one instance serves many. ``seq_len`` (the canvas length) defaults to
    ``model.config.seq_len`` and must be given for a model whose config has none (e.g. a reference ``LLaDAModel``)."""

    backend = "masked"  # the name of this backend (``ctrlgen generate --backend``)
    mixes_requests = True  # every row has its own given tokens and bans (:mod:`.requests`)

    def __init__(self, model: nn.Module, tokenizer: Any, diffusion: MaskedDiffusion | None = None,
                 path: Path | None = None, seq_len: int | None = None,
                 defaults: SamplingDefaults | None = None) -> None:
        if int(model.mask_id) != tokenizer.vocab.mask_id:
            raise CheckpointError(f"field model.mask_id = {model.mask_id} is not the tokenizer's [MASK] id "
                                  f"{tokenizer.vocab.mask_id}", "the tokenizer belongs to another model")
        seq_len = getattr(model.config, "seq_len", None) if seq_len is None else seq_len
        if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 2:
            raise ConfigError(f"seq_len = {seq_len!r}: the canvas length must be an int >= 2",
                              "pass MaskedGenerator(model, tokenizer, seq_len=N) for a model whose config has none")
        self._seq_len = seq_len
        self.defaults = defaults or SamplingDefaults()
        SamplerConfig(block_length=self.defaults.block_length).schedule(seq_len, seq_len)  # checked at load
        self.model, self.tokenizer, self.path = model.eval(), tokenizer, path
        self.diffusion = diffusion or MaskedDiffusion(int(model.mask_id))

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = "e2e-masked") -> MaskedGenerator:
        """Load a checkpoint whose ``model_type`` is one of ``SPEC.models`` (the network class is looked up there)."""
        path = resolve_model_path(name_or_path)
        model_type = read_config(path)["model_type"]
        models = BACKENDS.get(cls.backend).models
        if model_type not in models:
            raise CheckpointError(f"{path / 'config.json'}: model_type {model_type!r} is not a masked model",
                                  f"the masked backend loads {', '.join(sorted(models))}; ctrlgen.load(path) "
                                  "picks the backend from model_type")
        model, tok, cfg = load_pretrained(path, resolve(models[model_type]))
        dcfg = config_section(path, cfg, "diffusion", MaskedDiffusionConfig)
        defaults = config_section(path, cfg, "sampling", SamplingDefaults)
        try:
            return cls(model, tok, MaskedDiffusion(int(model.mask_id), dcfg), path, defaults=defaults)
        except CtrlgenError as e:  # a sampling default that does not fit the model
            raise CheckpointError(f"{path / 'config.json'}: field sampling.block_length: {e.message}", e.hint or None) \
                from None

    @property
    def seq_len(self) -> int:
        return self._seq_len

    def sample_requests(self, items: Sequence[tuple[PreparedConstraint | None, int]], *,
                        on_request: OnRequest | None = None, **kwargs: Any) -> None:
        """Requests with different hard faces in shared batches (:func:`.requests.sample_requests`)."""
        sample_requests(self, items, on_request, **kwargs)

    def prepare(self, constraints: ConstraintLike) -> PreparedConstraint | None:
        """Compile constraints for this model (vocabulary, ``seq_len``, the masked backend)."""
        if constraints is None or constraints == []:
            return None
        context = ModelContext.of(self.model, self.diffusion, self.path, self.tokenizer)
        return prepare(constraints, self.tokenizer, self.seq_len, self.backend, model=context)

    def conditioning(self, prepared: PreparedConstraint | None) -> tuple[Tensor, Tensor, Tensor]:
        """``(fixed: BoolTensor[L], values: LongTensor[L], banned: BoolTensor[1, L, V])``: START at 0 plus the
        hard face; the bans of the module doc."""
        vocab = self.tokenizer.vocab
        fixed, values, banned = token_conditioning(prepared, vocab, self.seq_len, int(self.model.vocab_size))
        banned[0, 1:, vocab.start_id] = True  # START only at 0 (the mask predictor reads START nowhere else)
        return fixed, values, banned

    def generate(self, n: int = 8, steps: int | None = None, seed: int | None = 0, constraints: ConstraintLike = None,
                 batch_size: int = 64, sampler: SamplerConfig | None = None, guidance_scale: float = 1.0,
                 return_trajectory: bool = False, progress: bool | None = None, device: str | None = None,
                 dtype: str | None = None, on_batch: OnBatch | None = None) -> GenerationOutput:
        """Sample ``n`` texts with ``steps`` forwards (default ``spec.default_steps``; ``sampler`` — a
        :class:`SamplerConfig` — picks remasking, blocks, CFG and temperature, its ``steps`` used when ``steps`` is
        None). Hard faces hold exactly in every output; ``soft:token`` faces steer the logits with strength
        ``guidance_scale`` (0: unguided, bit for bit); the check face fills ``report["constraints"]``. Same
        ``seed`` and ``batch_size`` → same texts. Options, the block schedule and the budget are checked before
        any sampling. ``on_batch(start, part)`` streams finished batches (:mod:`ctrlgen.core.contract`)."""
        sampler = SamplerConfig() if sampler is None else sampler
        if sampler.block_length is None:  # the model's measured default (config.json "sampling"), else one block
            sampler = replace(sampler, block_length=self.defaults.block_length)
        opts = self.options(n=n, steps=steps, sampler_steps=sampler.steps, seed=seed, batch_size=batch_size,
                            guidance_scale=guidance_scale, device=device, dtype=dtype, progress=progress,
                            return_trajectory=return_trajectory)
        assert opts.steps is not None  # filled in by options()
        sampler = replace(sampler, steps=opts.steps)
        sampler.schedule(self.seq_len, opts.steps)  # a block_length that does not divide, too few steps: refused here
        on = self.place(opts)
        self.check_budget(opts, sampler)
        prepared = self.prepare(constraints)
        fixed, values, banned = self.conditioning(prepared)
        guide = None
        if prepared is not None and prepared.soft_terms and opts.guidance_scale > 0:
            guide = LogitGuidance([(t.weight, t.soft) for t in prepared.soft_terms], opts.guidance_scale,
                                  int(self.model.mask_id), self.diffusion.noise)
        gen = self.rng(opts, on)
        t0 = time.perf_counter()
        placed = self.place_phrases(prepared, fixed, values, opts.n, gen)  # per-sample hard specs (Contains), or None
        tokens, traj, parts, forwards, row_forwards = [], [], [], 0, 0
        for start in range(0, opts.n, opts.batch_size):
            b = min(opts.batch_size, opts.n - start)
            f, v, ban = fixed[None].expand(b, -1), values[None].expand(b, -1), banned
            if placed is not None:  # this batch's own fixed words, and words (not END/PAD) before the last of them
                f, v, ban = with_placements(fixed, values, banned, placed[start:start + b], self.tokenizer.vocab)
            x = torch.where(f, v, torch.full_like(v, int(self.model.mask_id))).to(on)
            given = f.clone().to(on)
            given[:, 0] = False  # START is in every training sequence: kept in the unconditional CFG pass
            out = sample(self.model, x, sampler, opts.steps, given=given, banned=ban.to(on), guide=guide,
                         generator=gen, return_trajectory=opts.return_trajectory, progress=opts.show_progress())
            tokens.append(out.tokens.cpu())
            forwards, row_forwards = forwards + out.forwards, row_forwards + out.row_forwards
            emit_placed(on_batch, start, tokens[-1], self.tokenizer, prepared,
                        None if placed is None else placed[start:start + b], parts)
            traj.append([t.cpu() for t in out.trajectory])
        trajectory = decode_trajectory(traj, self.tokenizer) if opts.return_trajectory else None
        call = {"seconds": time.perf_counter() - t0, "steps": opts.steps, "seed": opts.seed,
                "remasking": sampler.remasking, "block_length": sampler.block_length or self.seq_len,
                "cfg_scale": sampler.cfg_scale, "temperature": sampler.temperature, "threshold": sampler.threshold,
                "forwards": forwards, "row_forwards": row_forwards}
        if parts:  # streamed: the batches' own reports merged (the oracles ran once per sample)
            return merge_batches(parts, trajectory, **call)
        return placed_output(torch.cat(tokens), self.tokenizer, prepared, placed, trajectory, **call)

    @torch.no_grad()
    def place_phrases(self, prepared: PreparedConstraint | None, fixed: Tensor, values: Tensor, n: int,
                      gen: torch.Generator | None) -> list[HardSpec] | None:
        """Per-sample placements of the ``Contains`` leaves (:func:`ctrlgen.core.placement.place_phrases`), or
        ``None`` without any, scored by :meth:`placement_score` given ``fixed``/``values`` (``[L]``)."""
        return place_phrases(prepared, self.tokenizer, self.seq_len, base_tokens(fixed, values), n,
                             self.placement_score, gen)

    @torch.no_grad()
    def placement_score(self, taken: Mapping[int, int], starts: Sequence[int], ids: Sequence[int]) -> Tensor:
        """log p(phrase ``ids`` at start s | the ``taken`` tokens, all else MASK) for each s: ``Tensor[S]``.

        The chain rule over the phrase's words, one batched forward per word: log p(w_0 at s | taken) +
        log p(w_1 at s+1 | taken, w_0) + …, each term the mask predictor's clean-token log-probability at a masked
        position (MASK excluded). A word already in place contributes 0 (:func:`ctrlgen.core.placement.chain_rule_score`)."""
        device = next(self.model.parameters()).device
        return chain_rule_score(self.model, taken, starts, ids, self.seq_len, self.tokenizer.vocab, device)

    def budget(self, opts: Options, sampler: SamplerConfig | None = None) -> tuple[float, int]:
        """``(seconds per sample per step, bytes per sample in flight)`` of the network alone (with CFG: as if it ran).

        Time: one no-grad forward of ``PROBE_BATCH`` all-MASK canvases (twice the rows with CFG), timed once per
        device, dtype and CFG (:meth:`Generator.probe_seconds`). Memory: per sample (×2 with CFG),
        ``seq_len · (itemsize · (8·hidden + heads·seq_len + vocab) + 4 · 4 · vocab)``: the widest activations, one
        attention map, the logits, and about four ``[seq_len, vocab]`` float32 tensors of the step (logits,
        probabilities, their cumulative sum, the draw) — an upper bound: the draw reads only the positions that can
        be revealed this step."""
        cfg, param = self.model.config, next(self.model.parameters())
        rows = 2 if sampler is not None and sampler.cfg_scale > 0 else 1
        x = torch.full((PROBE_BATCH * rows, self.seq_len), int(self.model.mask_id), device=param.device)
        seconds = self.probe_seconds((str(param.device), param.dtype, rows), lambda: self.model(x), PROBE_BATCH)
        hidden = getattr(cfg, "hidden", None) or getattr(cfg, "d_model", 0)
        heads, V, L = getattr(cfg, "heads", None) or getattr(cfg, "n_heads", 1), int(self.model.vocab_size), self.seq_len
        per_position = param.dtype.itemsize * (8 * hidden + heads * L + V) + 4 * 4 * V
        return seconds, rows * L * per_position

    def check_budget(self, opts: Options, sampler: SamplerConfig | None = None) -> None:
        """:meth:`Generator.check_budget` with the estimate for ``sampler`` (CFG doubles the rows)."""
        seconds, memory = self.budget(opts, sampler)
        opts.check_budget(cost_per_step_s=seconds, memory_per_sample_bytes=memory,
                          default_steps=self.spec.default_steps)

    def infill(self, template: str, n: int = 4, steps: int | None = None, seed: int | None = 0,
               constraints: ConstraintLike = None, **kw: Any) -> GenerationOutput:
        """Fill the holes of ``template`` conditioned on its words; samples ordered by minimum Bayes risk
        (``report["mbr"]``), so ``texts[0]`` is the MBR choice."""
        c = Infill(template) if constraints is None else Infill(template) & constraints
        return order_by_mbr(self.generate(n=n, steps=steps, seed=seed, constraints=c, **kw))
