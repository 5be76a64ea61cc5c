"""Training noise-aware classifiers on a frozen language model's embeddings (or, for discrete diffusion,
on its noisy tokens).

Each step takes a batch of texts, embeds them with the model's (frozen) word embeddings, draws for each
example a step of the *decoding* schedule (``decode_steps`` evenly spaced steps of the training T, as the
sampler will visit) — or, with probability ``clean_prob``, the clean embeddings at ``t = 0`` — forms
x_t ~ q(x_t | x0) and minimises ``−log_prob(x_t, t, target)``, the same method guidance calls. So a
classifier trains exactly on the states it will read while steering. A token-space classifier
(``space = "token"``, for a discrete-diffusion model) instead reads x_t ~ q(x_t | x0) of the model's own
graph and noise as one-hot ``Tensor[B, L, V]`` with t ~ U(0, 1), and the total noise σ̄(t) as its ``t``.

```python
import ctrlgen
gen = ctrlgen.load("e2e")
clf = MyClassifier(embed_dim=16)
ctrlgen.fit_classifier(clf, gen, ctrlgen.ClassifierData(ids, targets), steps=300)
clf.save_pretrained("my-classifier")      # records gen's fingerprint; loads only for that model
```
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from ctrlgen.constraints.fingerprint import ModelContext
from ctrlgen.constraints.plugin import ClassifierData, NoiseAwareClassifier, index_targets, targets_to
from ctrlgen.errors import CheckpointError, ConfigError
from ctrlgen.training.state import decode, encode, looks_pickled

logger = logging.getLogger(__name__)


def as_context(model: Any) -> ModelContext:
    """A :class:`ModelContext` from a generator (``ctrlgen.load(...)``) or a context itself."""
    if isinstance(model, ModelContext):
        return model
    if hasattr(model, "model") and hasattr(model, "diffusion"):
        return ModelContext.of(model.model, model.diffusion, getattr(model, "path", None),
                               getattr(model, "tokenizer", None))
    raise ConfigError(f"cannot train a classifier for {type(model).__name__}",
                      "pass a loaded embedding model (ctrlgen.load('e2e')) or a ModelContext")


def decode_times(context: ModelContext, decode_steps: int) -> Tensor:
    """Training-schedule indices the sampler visits with ``decode_steps`` steps (at most T): ``Tensor[steps]``."""
    if context.diffusion is None:
        raise ConfigError("the model context has no diffusion schedule", "use ModelContext.of(model, diffusion)")
    steps = min(decode_steps, context.diffusion.num_steps)
    return torch.as_tensor(context.diffusion.respace(steps).timesteps, dtype=torch.long)


def noisy_latents(context: ModelContext, ids: Tensor, generator: torch.Generator, times: Tensor,
                  clean_prob: float) -> tuple[Tensor, Tensor]:
    """``ids: Tensor[B, L]`` → ``(x_t: Tensor[B, L, d], t: Tensor[B])``: t drawn from ``times``; a share
    ``clean_prob`` are the clean embeddings with t = 0."""
    with torch.no_grad():
        emb = context.model.embed(ids.to(context.device)).detach()
        b = ids.shape[0]
        t = times[torch.randint(len(times), (b,), generator=generator)].to(emb.device)
        clean = (torch.rand(b, generator=generator) < clean_prob).to(emb.device)
        t = torch.where(clean, torch.zeros_like(t), t)
        noise = torch.randn(emb.shape, generator=generator).to(emb.device)
        x = context.diffusion.q_sample(emb, t, noise)
        return torch.where(clean[:, None, None], emb, x), t


def noisy_tokens(context: ModelContext, ids: Tensor, generator: torch.Generator, clean_prob: float,
                 t: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``ids: Tensor[B, L]`` → ``(one-hot x_t: Tensor[B, L, V], σ̄: Tensor[B])`` under the discrete model's
    graph and noise: t ~ U(0, 1) (or the given ``t: Tensor[B]``); a share ``clean_prob`` stay clean (σ̄ = 0)."""
    with torch.no_grad():
        diff, b = context.diffusion, ids.shape[0]
        t = torch.rand(b, generator=generator) if t is None else t
        clean = torch.rand(b, generator=generator) < clean_prob
        sigma = torch.where(clean | (t <= 0), torch.zeros_like(t), diff.noise.total_noise(t.clamp(min=1e-6)))
        x = diff.graph.sample_transition(ids, sigma[:, None].expand(ids.shape), generator)
        onehot = torch.nn.functional.one_hot(x, int(context.model.config.vocab_size)).float()
        return onehot.to(context.device), sigma.to(context.device)


def _check_space(classifier: NoiseAwareClassifier, ctx: ModelContext) -> None:
    if classifier.space != ctx.space:
        raise ConfigError(f"{type(classifier).__name__} reads {classifier.space!r} inputs but the model's "
                          f"classifiers read {ctx.space!r}",
                          "embedding-space classifiers go with embedding (Diffusion-LM) models, token-space ones "
                          "with discrete (SEDD) models")


_CKPT_FORMAT = "ctrlgen.classifier_training_state"
_CKPT_HINT = "delete the checkpoint file to start over"


def _resume(path: Path | None, run: dict[str, Any], classifier: NoiseAwareClassifier, opt: torch.optim.Optimizer,
            gen: torch.Generator) -> tuple[int, float | None, float]:
    """Load the checkpoint at ``path`` into the training state when it belongs to the same ``run``:
    ``(next step, loss EMA, seconds spent)``; ``(0, None, 0.0)`` without one (a foreign one is ignored, logged).
    The file is safetensors with a JSON body in its metadata (:func:`_save_checkpoint`): nothing in it can run code;
    a pickle (what versions before issue 18's fix wrote) is refused, never loaded."""
    if path is None or not path.is_file():
        return 0, None, 0.0
    state = read_classifier_checkpoint(path)
    if state.get("run") != json.loads(json.dumps(run)):
        logger.warning("ignoring the checkpoint %s: it is of another run (%s)", path, state.get("run"))
        return 0, None, 0.0
    try:
        classifier.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch"])
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path} does not fit this classifier's training: {e}", _CKPT_HINT) from None
    logger.info("resuming from %s at step %d", path, state["step"])
    return int(state["step"]), state["ema"], float(state["seconds"])


def read_classifier_checkpoint(path: Path) -> dict[str, Any]:
    """The training state :func:`_save_checkpoint` wrote at ``path`` (tensors back in place); a pickle or any other
    file is a :class:`~ctrlgen.errors.CheckpointError`."""
    if looks_pickled(path):
        raise CheckpointError(f"{path} looks like a pickle (the old classifier checkpoint format); ctrlgen never "
                              "unpickles a checkpoint, since a crafted pickle runs code when it is loaded", _CKPT_HINT)
    try:
        with safe_open(str(path), framework="pt") as fh:
            body = json.loads((fh.metadata() or {}).get("state", "null"))
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (a safetensors handle, not a dict)
    except (OSError, ValueError, RuntimeError, SafetensorError) as e:
        raise CheckpointError(f"cannot read the classifier checkpoint {path}: {e}", _CKPT_HINT) from None
    if not isinstance(body, dict) or body.get("format") != _CKPT_FORMAT:
        raise CheckpointError(f"{path} is not a ctrlgen classifier training state", _CKPT_HINT)
    return decode(body, tensors)


def _save_checkpoint(path: Path, run: dict[str, Any], step: int, classifier: NoiseAwareClassifier,
                     opt: torch.optim.Optimizer, gen: torch.Generator, ema: float | None, seconds: float) -> None:
    """Write the training state atomically (a temporary file, then renamed over ``path``): the tensors as
    safetensors, the rest as JSON in its metadata (:func:`ctrlgen.training.state.encode`)."""
    tensors: dict[str, Tensor] = {}
    body = {"format": _CKPT_FORMAT, "run": run, "step": step, "ema": ema, "seconds": seconds,
            "model": encode(classifier.state_dict(), "model", tensors), "opt": encode(opt.state_dict(), "opt", tensors),
            "generator": encode(gen.get_state(), "generator", tensors),
            "torch": encode(torch.get_rng_state(), "torch", tensors)}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"state": json.dumps(body)})
    os.replace(tmp, path)


@torch.enable_grad()
def fit_classifier(classifier: NoiseAwareClassifier, model: Any, data: ClassifierData, *, steps: int = 2000,
                   batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0, warmup: int = 100,
                   decode_steps: int = 200, clean_prob: float = 0.1, seed: int = 0,
                   progress: bool | None = None, checkpoint: str | os.PathLike | None = None,
                   checkpoint_every: int = 200) -> dict[str, Any]:
    """Train ``classifier`` for ``model`` (a generator or :class:`ModelContext`) on ``data``; returns a
    summary (final loss, seconds) that is also stored in ``classifier.training_info``. AdamW with linear
    warm-up and cosine decay to 10%; the model stays frozen. Sets ``classifier.fingerprint``.

    ``checkpoint``: a file the training state (weights, optimiser, random streams) is written to every
    ``checkpoint_every`` steps; a run started again with the same file and settings resumes there (on the
    CPU, the same result as an uninterrupted run)."""
    if steps <= 0 or batch_size <= 0 or len(data) == 0:
        raise ConfigError(f"need steps > 0, batch_size > 0 and data, got {steps}, {batch_size}, {len(data)} examples")
    if checkpoint_every <= 0:
        raise ConfigError(f"checkpoint_every must be > 0, got {checkpoint_every}", "e.g. 200 steps")
    ctx = as_context(model)
    _check_space(classifier, ctx)
    times = decode_times(ctx, decode_steps) if ctx.space == "embedding" else None
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout
    classifier.to(ctx.device).train().requires_grad_(True)
    opt = torch.optim.AdamW(classifier.parameters(), lr=lr, weight_decay=weight_decay)

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        frac = (step - warmup) / max(1, steps - warmup)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    from tqdm.auto import tqdm

    run = {"classifier": classifier.classifier_name or type(classifier).__name__, "hparams": classifier.hparams,
           "steps": steps, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay, "warmup": warmup,
           "decode_steps": decode_steps, "clean_prob": clean_prob, "seed": seed, "examples": len(data)}
    ckpt = Path(checkpoint) if checkpoint is not None else None
    first, ema, spent = _resume(ckpt, run, classifier, opt, gen)
    show = sys.stderr.isatty() if progress is None else progress
    t0 = time.perf_counter() - spent
    bar = tqdm(range(first, steps), disable=not show, desc=f"train {classifier.classifier_name or 'classifier'}")
    for step in bar:
        idx = torch.randint(len(data), (batch_size,), generator=gen)
        if times is None:
            x, t = noisy_tokens(ctx, data.ids[idx], gen, clean_prob)
        else:
            x, t = noisy_latents(ctx, data.ids[idx], gen, times, clean_prob)
        target = targets_to(index_targets(data.targets, idx), ctx.device)
        loss = -classifier.log_prob(x, t, target).mean()
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(classifier.parameters(), 1.0)
        opt.step()
        lv = float(loss.detach())
        ema = lv if ema is None else 0.98 * ema + 0.02 * lv
        if show:
            bar.set_postfix(loss=f"{ema:.3f}")
        elif (step + 1) % max(1, steps // 20) == 0:
            logger.info("step %d/%d loss %.4f (%.0f s)", step + 1, steps, ema, time.perf_counter() - t0)
        if ckpt is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == steps):
            _save_checkpoint(ckpt, run, step + 1, classifier, opt, gen, ema, time.perf_counter() - t0)
    classifier.eval().requires_grad_(False)
    classifier.fingerprint = ctx.fingerprint
    summary = {"steps": steps, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
               "decode_steps": decode_steps, "clean_prob": clean_prob, "seed": seed, "examples": len(data),
               "final_loss": round(float(ema), 4), "seconds": round(time.perf_counter() - t0, 1)}
    classifier.training_info.update(summary)
    return summary


@torch.no_grad()
def evaluate_classifier(classifier: NoiseAwareClassifier, model: Any, data: ClassifierData, *,
                        fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 0.9), clean: bool = True,
                        batch_size: int = 256, seed: int = 0) -> dict[str, dict[str, float]]:
    """Mean ``−log p`` and the classifier's own metrics on ``data`` at noise levels ``t = round(f·(T−1))``
    for each fraction ``f`` (plus clean input): ``{"clean": {...}, "t=500": {...}, ...}``. Token-space
    classifiers: time ``t = f`` of the discrete noise (``"t=0.50"``: half the tokens masked, log-linear)."""
    ctx = as_context(model)
    _check_space(classifier, ctx)
    Level = float | int | None
    if ctx.space == "token":
        levels: list[tuple[str, Level]] = ([("clean", 0.0)] if clean else []) + \
            [(f"t={f:.2f}", float(f)) for f in fractions]

        def noisy(ids: Tensor, level: Level, gen: torch.Generator) -> tuple[Tensor, Tensor]:
            return noisy_tokens(ctx, ids, gen, 0.0, torch.full((len(ids),), float(level or 0.0)))
    else:
        T = ctx.diffusion.num_steps
        levels = ([("clean", None)] if clean else []) + [(f"t={round(f * (T - 1))}", round(f * (T - 1)))
                                                          for f in fractions]

        def noisy(ids: Tensor, level: Level, gen: torch.Generator) -> tuple[Tensor, Tensor]:
            emb = ctx.model.embed(ids.to(ctx.device))
            t = torch.full((ids.shape[0],), 0 if level is None else int(level), dtype=torch.long, device=emb.device)
            if level is None:
                return emb, t
            return ctx.diffusion.q_sample(emb, t, torch.randn(emb.shape, generator=gen).to(emb.device)), t
    classifier.eval()
    out: dict[str, dict[str, float]] = {}
    for name, level in levels:
        gen = torch.Generator().manual_seed(seed)
        sums: dict[str, float] = {}
        for start in range(0, len(data), batch_size):
            part = data.take(slice(start, start + batch_size))
            x, t = noisy(part.ids, level, gen)
            target = targets_to(part.targets, ctx.device)
            vals = {"nll": -classifier.log_prob(x, t, target), **classifier.metrics(x, t, target)}
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + float(v.float().nansum())
                sums[f"#{k}"] = sums.get(f"#{k}", 0.0) + float((~v.float().isnan()).sum())
        out[name] = {k: round(sums[k] / max(1.0, sums[f"#{k}"]), 4) for k in sums if not k.startswith("#")}
    return out
