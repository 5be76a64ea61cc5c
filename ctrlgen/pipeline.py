"""The facade: load a model → sample → texts plus a report.

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
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from .config import from_dict
from .diffusion.gaussian import DiffusionConfig, GaussianDiffusion
from .errors import CheckpointError, SamplingError
from .evaluation.fluency import well_formed
from .models.embedding_lm import EmbeddingLM
from .models.pretrained import load_pretrained, read_config
from .registry import Registry
from .samplers.embedding import EmbeddingSampler, StepHook

#: Bundled models: name → folder under ``ctrlgen/assets``.
MODELS: Registry[str] = Registry("model")
MODELS.register("e2e", "e2e")
DEFAULT_MODEL = "e2e"


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """A bundled model name or a checkpoint directory → the directory."""
    p = Path(name_or_path)
    if p.is_dir():
        return p
    if isinstance(name_or_path, str) and name_or_path in MODELS:
        path = Path(str(resources.files("ctrlgen") / "assets" / MODELS.get(name_or_path)))
        if not (path / "config.json").is_file():
            raise CheckpointError(f"bundled model {name_or_path!r} is missing from {path}",
                                  "reinstall ctrlgen; the wheel ships ctrlgen/assets")
        return path
    raise CheckpointError(f"no model named {str(name_or_path)!r} and no such directory",
                          f"bundled models: {', '.join(MODELS)}; or pass a directory written by save_pretrained()")


@dataclass
class GenerationOutput:
    texts: list[str]
    tokens: torch.Tensor  # Tensor[n, L] ids
    report: dict[str, Any] = field(default_factory=dict)  # well_formed per sample, seconds, ...
    trajectory: list[list[str]] | None = None  # per step, the n texts of round(x̂0)


class EmbeddingGenerator:
    """A loaded Diffusion-LM model; stateless between calls, so one instance serves many."""

    def __init__(self, model: EmbeddingLM, tokenizer: Any, diffusion: GaussianDiffusion, path: Path | None = None):
        self.model, self.tokenizer, self.diffusion, self.path = model, tokenizer, diffusion, path

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = DEFAULT_MODEL) -> "EmbeddingGenerator":
        path = resolve_model_path(name_or_path)
        model, tok, cfg = load_pretrained(path, EmbeddingLM)
        try:
            dcfg = from_dict(DiffusionConfig, cfg.get("diffusion", {}), "diffusion")
        except Exception as e:  # noqa: BLE001 — any config problem is a checkpoint problem here
            raise CheckpointError(f"{path / 'config.json'}: {e}") from None
        return cls(model, tok, GaussianDiffusion.from_config(dcfg), path)

    def generate(self, n: int = 8, steps: int = 200, seed: int | None = 0, batch_size: int = 64,
                 sampler: EmbeddingSampler | None = None, hook: StepHook | None = None,
                 return_trajectory: bool = False, progress: bool = False) -> GenerationOutput:
        """Sample ``n`` texts with ``steps`` denoising steps (≤ the training T).

        Same ``seed`` and ``batch_size`` → same texts. ``sampler`` overrides clamping options;
        ``hook`` is called after every step (see ``samplers.embedding.StepHook``)."""
        if not isinstance(n, int) or n <= 0:
            raise SamplingError(f"n must be a positive integer, got {n!r}")
        if batch_size <= 0:
            raise SamplingError(f"batch_size must be > 0, got {batch_size}")
        sampler = sampler or EmbeddingSampler(steps=steps)
        if sampler.steps > self.diffusion.num_steps:
            raise SamplingError(f"steps = {sampler.steps} exceeds the model's {self.diffusion.num_steps} training steps",
                                f"use 1..{self.diffusion.num_steps}")
        gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2**62))
        t0 = time.perf_counter()
        tokens, traj = [], []
        for start in range(0, n, batch_size):
            out = sampler.sample(self.model, self.diffusion, min(batch_size, n - start), gen, hook=hook,
                                 return_trajectory=return_trajectory, progress=progress)
            tokens.append(out.tokens)
            traj.append(out.trajectory)
        ids = torch.cat(tokens)
        texts = self.tokenizer.decode_batch(ids)
        report = {"well_formed": well_formed(ids, self.tokenizer.vocab).tolist(), "seconds": time.perf_counter() - t0,
                  "steps": sampler.steps, "seed": seed}
        trajectory = None
        if return_trajectory:
            trajectory = [sum((self.tokenizer.decode_batch(b[k]) for b in traj), []) for k in range(len(traj[0]))]
        return GenerationOutput(texts=texts, tokens=ids, report=report, trajectory=trajectory)


def load(name_or_path: str | os.PathLike = DEFAULT_MODEL) -> EmbeddingGenerator:
    """Load a bundled model by name (``"e2e"``) or a checkpoint directory."""
    path = resolve_model_path(name_or_path)
    mtype = read_config(path)["model_type"]
    if mtype != EmbeddingLM.model_type:
        raise CheckpointError(f"{path}: model_type {mtype!r} has no generator yet",
                              f"supported: {EmbeddingLM.model_type!r}")
    return EmbeddingGenerator.from_pretrained(path)
