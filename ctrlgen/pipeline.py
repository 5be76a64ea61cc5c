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
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from .config import from_dict
from .constraints import Infill, PreparedConstraint, prepare
from .constraints.composition import ConstraintLike
from .diffusion.gaussian import DiffusionConfig, GaussianDiffusion
from .errors import CheckpointError, SamplingError
from .evaluation.fluency import well_formed
from .guidance import Guidance, GuidanceConfig
from .models.embedding_lm import EmbeddingLM
from .models.pretrained import load_pretrained, read_config
from .registry import Registry
from .samplers.embedding import EmbeddingSampler, FixedEmbeddings, StepHook, StepOutput

#: Bundled models: name → folder under ``ctrlgen/assets``.
MODELS: Registry[str] = Registry("model")
MODELS.register("e2e", "e2e")
MODELS.register("e2e-teacher-1", "e2e-teacher-1")  # the fixed teacher LM of the lm-score (evaluation.teacher)
MODELS.register("e2e-ar-draft", "e2e-ar-draft")  # AR draft model for the edit backend (not the teacher)
MODELS.register("e2e-edit", "e2e-edit")  # DiffusER tagger + generator (edit backend)
MODELS.register("e2e-sedd", "e2e-sedd")  # SEDD score model (discrete backend), see its README
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
        from .constraints import ModelContext

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


def build_output(ids: torch.Tensor, tokenizer: Any, prepared: PreparedConstraint | None,
                 trajectory: list[list[str]] | None = None, **report: Any) -> GenerationOutput:
    """Decode ``ids: LongTensor[n, L]`` and report well-formedness and each constraint's check face
    (``report`` adds entries such as seconds, steps, seed). Shared by every backend's generator."""
    unk_words = prepared.hard.unk_words if prepared is not None and prepared.hard is not None else None
    texts = tokenizer.decode_batch(ids, unk_words)  # words fixed with allow_unk come back as written
    rep: dict[str, Any] = {"well_formed": well_formed(ids, tokenizer.vocab).tolist(), **report}
    if prepared is not None:
        rep["constraints"] = {repr(r.constraint): {"satisfied": r.satisfied, "scores": r.scores}
                              for r in prepared.check(texts)}
        rep["satisfied"] = prepared.satisfied(texts)
    return GenerationOutput(texts=texts, tokens=ids, report=rep, trajectory=trajectory)


def decode_trajectory(batches: list[list[torch.Tensor]], tokenizer: Any) -> list[list[str]]:
    """Per-batch trajectories (``batches[b][k]``: ``LongTensor[n_b, L]`` ids at step k) → per step, all texts."""
    return [[text for b in batches for text in tokenizer.decode_batch(b[k])] for k in range(len(batches[0]))]


def order_by_mbr(out: GenerationOutput, per_sample_keys: Sequence[str] = ()) -> GenerationOutput:
    """Reorder samples by minimum Bayes risk (highest mean sentence-BLEU against the others first), with every
    per-sample report entry (``well_formed``, ``satisfied``, the constraints' lists, and ``per_sample_keys``);
    ``report["mbr"]`` holds the scores. Modifies and returns ``out``."""
    scores = mbr_scores(out.texts)
    order = sorted(range(len(out.texts)), key=lambda i: -scores[i])
    out.texts = [out.texts[i] for i in order]
    out.tokens = out.tokens[order]
    for key in ("well_formed", "satisfied", *per_sample_keys):
        if key in out.report:
            out.report[key] = [out.report[key][i] for i in order]
    for rec in out.report.get("constraints", {}).values():
        rec["satisfied"] = [rec["satisfied"][i] for i in order]
        rec["scores"] = [rec["scores"][i] for i in order]
    out.report["mbr"] = [scores[i] for i in order]
    return out


def mbr_scores(texts: list[str]) -> list[float]:
    """Mean sentence-BLEU of each text against the others (1.0 for a single text)."""
    if len(texts) < 2:
        return [1.0] * len(texts)
    from sacrebleu.metrics import BLEU

    bleu = BLEU(effective_order=True)
    return [sum(bleu.sentence_score(h, [r]).score for j, r in enumerate(texts) if j != i) / (len(texts) - 1) / 100
            for i, h in enumerate(texts)]


#: config.json ``model_type`` → ``"module:Class"`` whose ``from_pretrained(path)`` builds the generator. A backend
#: adds one line here; ``load`` never switches on types itself.
GENERATORS: Registry[str] = Registry("generator")
GENERATORS.register(EmbeddingLM.model_type, "ctrlgen.pipeline:EmbeddingGenerator")
GENERATORS.register("sedd-score", "ctrlgen.backends.discrete:DiscreteGenerator")
GENERATORS.register("edit-diffuser", "ctrlgen.backends.edit:DiffusERGenerator")


def load(name_or_path: str | os.PathLike = DEFAULT_MODEL) -> Any:
    """Load a bundled model by name (``"e2e"``, ``"e2e-sedd"``) or a checkpoint directory; the generator class
    follows the checkpoint's ``model_type`` (``GENERATORS``)."""
    import importlib

    path = resolve_model_path(name_or_path)
    mtype = read_config(path)["model_type"]
    if mtype not in GENERATORS:
        raise CheckpointError(f"{path}: model_type {mtype!r} is not a generator",
                              f"generators: {', '.join(GENERATORS)} (teacher/draft LMs load with their own classes)")
    module, cls = GENERATORS.get(mtype).split(":")
    return getattr(importlib.import_module(module), cls).from_pretrained(path)
