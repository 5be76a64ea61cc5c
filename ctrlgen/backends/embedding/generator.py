"""The ``embedding`` backend's generator: a Diffusion-LM model, its Gaussian diffusion, hard faces as fixed
latents and soft faces as gradient guidance → texts plus the one report (``ctrlgen.core.output``).

```python
import ctrlgen
gen = ctrlgen.load("e2e")                 # bundled default, offline
out = gen.generate(n=8, seed=0)
out.texts
```
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from ctrlgen.backends.embedding.diffusion import DiffusionConfig, GaussianDiffusion
from ctrlgen.backends.embedding.guidance import Guidance, GuidanceConfig
from ctrlgen.backends.embedding.model import EmbeddingLM
from ctrlgen.backends.embedding.sampler import EmbeddingSampler, FixedEmbeddings, StepHook, StepOutput
from ctrlgen.config import from_dict
from ctrlgen.constraints.composition import ConstraintLike, PreparedConstraint, prepare
from ctrlgen.constraints.infill import Infill
from ctrlgen.core.contract import Generator
from ctrlgen.core.mbr import order_by_mbr
from ctrlgen.core.output import GenerationOutput, build_output, decode_trajectory
from ctrlgen.errors import CheckpointError, SamplingError
from ctrlgen.models.assets import DEFAULT_MODEL, resolve_model_path
from ctrlgen.models.pretrained import load_pretrained
from ctrlgen.oracles.fluency import well_formed


class EmbeddingGenerator(Generator):
    """A loaded Diffusion-LM model; stateless between calls, so one instance serves many."""

    backend = "embedding"  # the name of this backend (``ctrlgen generate --backend``)

    def __init__(self, model: EmbeddingLM, tokenizer: Any, diffusion: GaussianDiffusion, path: Path | None = None):
        self.model, self.tokenizer, self.diffusion, self.path = model, tokenizer, diffusion, path

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = DEFAULT_MODEL) -> EmbeddingGenerator:
        path = resolve_model_path(name_or_path)
        model, tok, cfg = load_pretrained(path, EmbeddingLM)
        try:
            dcfg = from_dict(DiffusionConfig, cfg.get("diffusion", {}), "diffusion")
        except Exception as e:  # noqa: BLE001 — any config problem is a checkpoint problem here
            raise CheckpointError(f"{path / 'config.json'}: {e}") from None
        return cls(model, tok, GaussianDiffusion.from_config(dcfg), path)

    def prepare(self, constraints: ConstraintLike) -> PreparedConstraint | None:
        """Compile constraints for this model (vocabulary, ``seq_len``, the embedding backend); classifier-backed
        constraints load and check their classifier here (``model=`` context), before any sampling."""
        if constraints is None or constraints == []:
            return None
        from ctrlgen.constraints.fingerprint import ModelContext

        context = ModelContext.of(self.model, self.diffusion, self.path, self.tokenizer)
        return prepare(constraints, self.tokenizer, self.model.config.seq_len, "embedding", model=context)

    def _fixed(self, prepared: PreparedConstraint | None) -> FixedEmbeddings:
        """Hard constraints as fixed latents. Always bans MASK (never trained on this backend) and UNK
        (a placeholder for rare training words, useless in output); with an END fixed at position e,
        positions 1..e−1 must hold words (no START/END/PAD there)."""
        device = next(self.model.parameters()).device
        vocab = self.tokenizer.vocab
        L, V = self.model.config.seq_len, len(vocab)
        banned = torch.zeros(1, L, V, dtype=torch.bool, device=device)
        banned[..., [vocab.mask_id, vocab.unk_id]] = True
        mask = torch.zeros(L, dtype=torch.bool, device=device)
        values = torch.zeros(L, dtype=torch.long, device=device)
        if prepared is not None and prepared.hard is not None:
            mask, values = (v.clone() for v in prepared.hard.to_tensors(device))
            mask[0], values[0] = True, vocab.start_id  # every sequence starts with START
            ends = [p for p, i in prepared.hard.positions.items() if i == vocab.end_id]
            if ends:
                banned[0, 1:min(ends), [vocab.pad_id, vocab.start_id, vocab.end_id]] = True
        return FixedEmbeddings.build(self.model, mask, values, banned)

    def _hook(self, prepared: PreparedConstraint | None, guidance: GuidanceConfig | None,
              hook: StepHook | None) -> StepHook | None:
        hooks: list[StepHook] = []
        if prepared is not None and prepared.soft_terms:
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

    def generate(self, n: int = 8, steps: int = 200, seed: int | None = 0, constraints: ConstraintLike = None,
                 guidance: GuidanceConfig | None = None, batch_size: int = 64,
                 sampler: EmbeddingSampler | None = None, hook: StepHook | None = None,
                 return_trajectory: bool = False, progress: bool = False) -> GenerationOutput:
        """Sample ``n`` texts with ``steps`` denoising steps (≤ the training T).

        ``constraints``: constraint objects (``Length(12) & Infill(...)``), a list, or spec strings;
        their hard faces are imposed exactly, soft faces steer through ``guidance``, and the check
        face fills ``report["constraints"]``. Same ``seed`` and ``batch_size`` → same texts.
        ``sampler`` overrides clamping options; ``hook`` is called after every step."""
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise SamplingError(f"n must be a positive integer, got {n!r}")
        if batch_size <= 0:
            raise SamplingError(f"batch_size must be > 0, got {batch_size}")
        sampler = sampler or EmbeddingSampler(steps=steps)
        if sampler.steps > self.diffusion.num_steps:
            raise SamplingError(f"steps = {sampler.steps} exceeds the model's {self.diffusion.num_steps} training steps",
                                f"use 1..{self.diffusion.num_steps}")
        prepared = self.prepare(constraints)
        fixed = self._fixed(prepared)
        step_hook = self._hook(prepared, guidance, hook)
        gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2**62))
        t0 = time.perf_counter()
        tokens, traj = [], []
        for start in range(0, n, batch_size):
            out = sampler.sample(self.model, self.diffusion, min(batch_size, n - start), gen, hook=step_hook,
                                 return_trajectory=return_trajectory, progress=progress, fixed=fixed)
            tokens.append(out.tokens)
            traj.append(out.trajectory)
        trajectory = None
        if return_trajectory:
            trajectory = decode_trajectory(traj, self.tokenizer)
        return build_output(torch.cat(tokens), self.tokenizer, prepared, trajectory,
                            seconds=time.perf_counter() - t0, steps=sampler.steps, seed=seed)

    def infill(self, template: str, n: int = 4, steps: int = 200, seed: int | None = 0,
               constraints: ConstraintLike = None, **kw: Any) -> GenerationOutput:
        """Fill the holes of ``template`` (``"The Vaults is a [MASK:3] pub near [MASK] ."``).

        Draws ``n`` samples and orders them by minimum Bayes risk (highest mean sentence-BLEU
        against the other samples first; ``report["mbr"]`` holds the scores), so ``texts[0]`` is
        the MBR choice."""
        c = Infill(template) if constraints is None else Infill(template) & constraints
        return order_by_mbr(self.generate(n=n, steps=steps, seed=seed, constraints=c, **kw))


