"""Fine-tune a loaded ctrlgen checkpoint through ``accelerate`` (DDP, bf16 autocast, gradient accumulation), fully or
with LoRA adapters from ``peft`` (the optional extra ``ctrlgen[finetune]``, imported only when LoRA is asked for).

``finetune(base, texts, output_dir, FinetuneConfig(...))`` loads ``base`` (a bundled name or a checkpoint directory
of a model type in :data:`OBJECTIVES`; today the masked backend's LLaDA network, trained on its own objective:
:meth:`~ctrlgen.backends.masked.diffusion.MaskedDiffusion.training_losses`), and writes to ``output_dir`` either

- ``save = "merged"``: a full ctrlgen checkpoint (LoRA merged into the weights), loadable with ``ctrlgen.load`` and
  sealed like every checkpoint; its ``finetune`` section records the base's ``config.json`` digest; or
- ``save = "adapter"`` (LoRA only): peft's own layout (``adapter_config.json`` + ``adapter_model.safetensors``) plus
  ``ctrlgen_base.json``, the record of the base model. :func:`load_adapter` refuses another base
  (``CheckpointError`` naming the field ``base_config_sha256``).

The same function runs unchanged in one process or under ``accelerate launch --num_processes N`` (gloo on CPU):
``batch_size`` is per process per micro-batch, ``steps`` counts optimiser steps, and the batch and noise of
micro-step k on rank r are functions of (seed, k, r) only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ctrlgen.backends.masked.diffusion import (
    MaskedDiffusion,
    MaskedDiffusionConfig,
    MaskedObjective,
)
from ctrlgen.config import to_dict
from ctrlgen.errors import CheckpointError, ConfigError
from ctrlgen.models.assets import resolve_model_path
from ctrlgen.models.pretrained import (
    CONFIG_FILE,
    config_section,
    load_pretrained,
    read_config,
    save_pretrained,
    sections,
)
from ctrlgen.registry import BACKENDS, resolve
from ctrlgen.text.base import BaseTokenizer
from ctrlgen.text.dataset import encode_corpus

log = logging.getLogger(__name__)

BASE_RECORD = "ctrlgen_base.json"  # beside an adapter: which base it was trained on
PEFT_HINT = "pip install 'ctrlgen[finetune]' (or: pip install peft)"
#: model_type → the attention projections LoRA adapts by default
LORA_TARGETS: dict[str, tuple[str, ...]] = {"llada": ("q_proj", "k_proj", "v_proj", "attn_out")}


def _masked_objective(model: nn.Module, path: Path, cfg: dict[str, Any]) -> nn.Module:
    dcfg = config_section(path, cfg, "diffusion", MaskedDiffusionConfig)
    return MaskedObjective(model, MaskedDiffusion(int(model.mask_id), dcfg))


#: model_type → ``objective(model, checkpoint_dir, config_dict)``: ``forward(ids, generator) -> {"loss": Tensor[B]}``
OBJECTIVES: dict[str, Callable[[nn.Module, Path, dict[str, Any]], nn.Module]] = {"llada": _masked_objective}


@dataclass
class LoraSettings:
    r: int = 8  # adapter rank
    alpha: float = 16.0  # LoRA scale alpha / r
    dropout: float = 0.0  # dropout on the adapter's input
    target_modules: list[str] | None = None  # module names to adapt; None = LORA_TARGETS[model_type]

    def __post_init__(self) -> None:
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r <= 0:
            raise ConfigError(f"lora.r must be a positive int, got {self.r!r}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"lora.dropout must be in [0, 1), got {self.dropout!r}")


@dataclass
class FinetuneConfig:
    steps: int = 100  # optimiser steps
    batch_size: int = 8  # rows per process per micro-batch
    gradient_accumulation_steps: int = 1  # micro-batches per optimiser step
    lr: float = 1e-4  # constant AdamW learning rate
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping
    mixed_precision: Literal["no", "bf16"] = "no"  # bf16 = autocast (weights and optimiser stay float32)
    seed: int = 0
    cpu: bool = False  # force CPU even when CUDA is present
    lora: LoraSettings | None = None  # None = full fine-tuning
    save: Literal["merged", "adapter"] = "merged"  # "adapter" needs lora
    log_every: int = 10
    extra: dict[str, Any] = field(default_factory=dict)  # recorded in the checkpoint's finetune section

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "gradient_accumulation_steps", "log_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ConfigError(f"finetune.{name} must be a positive int, got {v!r}")
        if self.mixed_precision not in ("no", "bf16"):
            raise ConfigError(f"finetune.mixed_precision must be 'no' or 'bf16', got {self.mixed_precision!r}")
        if self.save not in ("merged", "adapter"):
            raise ConfigError(f"finetune.save must be 'merged' or 'adapter', got {self.save!r}")
        if self.save == "adapter" and self.lora is None:
            raise ConfigError("finetune.save = 'adapter' needs LoRA", "set lora=LoraSettings() or save='merged'")


def _peft() -> Any:
    """The ``peft`` module, or a ``ConfigError`` with the install hint."""
    try:
        import peft
    except ImportError:
        raise ConfigError("LoRA fine-tuning needs the optional package 'peft', which is not installed",
                          PEFT_HINT) from None
    return peft


def config_digest(directory: str | os.PathLike) -> str:
    """sha256 of a checkpoint's ``config.json`` bytes (its integrity seal covers the weights and tokenizer)."""
    return hashlib.sha256((Path(directory) / CONFIG_FILE).read_bytes()).hexdigest()


def load_base(name_or_path: str | os.PathLike) -> tuple[nn.Module, BaseTokenizer, dict[str, Any], Path]:
    """``(model, tokenizer, config dict, directory)`` of a checkpoint whose model type can be fine-tuned."""
    path = resolve_model_path(name_or_path)
    mtype = read_config(path)["model_type"]
    if mtype not in OBJECTIVES:
        raise CheckpointError(f"{path / CONFIG_FILE}: field model_type = {mtype!r} cannot be fine-tuned yet",
                              f"fine-tuning serves model types {', '.join(sorted(OBJECTIVES))}")
    cls = next(resolve(s.models[mtype]) for s in map(BACKENDS.get, BACKENDS) if mtype in s.models)
    model, tok, cfg = load_pretrained(path, cls)
    return model, tok, cfg, path


def add_lora(model: nn.Module, settings: LoraSettings) -> nn.Module:
    """``model`` wrapped in a ``peft.PeftModel`` with fresh adapters; only adapter weights require grad."""
    peft = _peft()
    targets = settings.target_modules or list(LORA_TARGETS.get(model.model_type, ()))
    if not targets:
        raise ConfigError(f"no default LoRA targets for model_type {model.model_type!r}", "set lora.target_modules")
    lcfg = peft.LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                           target_modules=targets)
    try:
        return peft.get_peft_model(model, lcfg)
    except ValueError as e:  # peft: target modules not found
        raise ConfigError(f"lora.target_modules {targets}: {e}", "name Linear modules of the network") from None


def _rows(step: int, n: int, per: int, rank: int, world: int, seed: int) -> Tensor:
    """Row indices of micro-step ``step`` for ``rank``: consecutive slices of seeded epoch permutations."""
    start = (step * world + rank) * per
    return torch.tensor([int(_perm(seed, j // n, n)[j % n]) for j in range(start, start + per)])


@functools.lru_cache(maxsize=2)
def _perm(seed: int, epoch: int, n: int) -> Tensor:
    """The row order of one epoch: ``LongTensor[n]``."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch))


@dataclass
class Finetuned:
    output_dir: Path  # what was written (module doc)
    model: nn.Module  # this process's trained network (merged on the main process when save = "merged")
    losses: list[float]  # this process's loss per micro-batch


def _accelerator(cfg: FinetuneConfig) -> Any:
    """A fresh ``Accelerator``: accelerate keeps its settings in process-wide singletons that refuse a second
    run with other settings, so they are reset first (the process group, ``PartialState``, is kept)."""
    try:
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState, GradientState
    except ImportError:
        raise ConfigError("fine-tuning needs the optional package 'accelerate', which is not installed",
                          PEFT_HINT.replace("peft", "accelerate peft")) from None

    AcceleratorState._reset_state()
    GradientState._reset_state()
    return Accelerator(mixed_precision=cfg.mixed_precision, cpu=cfg.cpu,
                       gradient_accumulation_steps=cfg.gradient_accumulation_steps)


def finetune(base: str | os.PathLike, texts: Sequence[str], output_dir: str | os.PathLike,
             config: FinetuneConfig | None = None) -> Finetuned:
    """Fine-tune ``base`` on ``texts`` (encoded at the model's ``seq_len``) and write ``output_dir`` (module doc).
    Every process of a launch calls it; the main process writes."""
    cfg = config or FinetuneConfig()
    if cfg.lora is not None:
        _peft()  # fail before loading anything
    acc = _accelerator(cfg)
    model, tok, base_cfg, path = load_base(base)
    data = encode_corpus(list(texts), tok, model.config.seq_len)
    torch.manual_seed(cfg.seed)  # LoRA init is random: the same on every rank
    net = add_lora(model, cfg.lora) if cfg.lora is not None else model
    objective = OBJECTIVES[model.model_type](net, path, base_cfg)
    net.train()
    params = [p for p in objective.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    objective, opt = acc.prepare(objective, opt)
    rank, world, total = acc.process_index, acc.num_processes, cfg.steps * cfg.gradient_accumulation_steps
    losses: list[float] = []
    for k in range(total):
        seed = (cfg.seed * 1_000_003 + k) * 64 + rank
        gen = torch.Generator(device=acc.device).manual_seed(seed)
        batch = data[_rows(k, len(data), cfg.batch_size, rank, world, cfg.seed)].to(acc.device)
        with acc.accumulate(objective):
            loss = objective(batch, gen)["loss"].mean()
            acc.backward(loss)
            if acc.sync_gradients and cfg.grad_clip > 0:
                acc.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if acc.sync_gradients and ((k + 1) // cfg.gradient_accumulation_steps) % cfg.log_every == 0:
            window = losses[-cfg.log_every * cfg.gradient_accumulation_steps:]
            log.info("finetune step %d loss %.4f", (k + 1) // cfg.gradient_accumulation_steps, sum(window) / len(window))
    acc.wait_for_everyone()
    out, trained = Path(output_dir), acc.unwrap_model(objective).model
    if acc.is_main_process:
        record = {"base": str(base), "base_config_sha256": config_digest(path), "model_type": model.model_type,
                  "config": to_dict(cfg), "losses": [round(x, 5) for x in losses]}
        trained = _write(trained, tok, base_cfg, out, cfg, record)
    acc.wait_for_everyone()
    return Finetuned(out, trained, losses)


def _write(net: nn.Module, tok: BaseTokenizer, base_cfg: dict[str, Any], out: Path, cfg: FinetuneConfig,
           record: dict[str, Any]) -> nn.Module:
    """Write the adapter (peft layout + :data:`BASE_RECORD`) or the merged checkpoint; returns the model written."""
    if cfg.save == "adapter":
        net.save_pretrained(str(out))
        (out / BASE_RECORD).write_text(json.dumps(record, indent=2))
        return net
    model = net.merge_and_unload() if cfg.lora is not None else net
    model.eval()
    save_pretrained(out, model, tok, {**sections(base_cfg), "finetune": record})
    return model


def load_adapter(base: str | os.PathLike, adapter_dir: str | os.PathLike,
                 merge: bool = True) -> tuple[nn.Module, BaseTokenizer, dict[str, Any]]:
    """``(model, tokenizer, base config dict)``: ``base`` with the adapter of ``adapter_dir`` (merged into plain
    weights when ``merge``). An adapter trained on another base is a ``CheckpointError`` naming the field."""
    adapter_dir = Path(adapter_dir)
    rec_path = adapter_dir / BASE_RECORD
    try:
        record = json.loads(rec_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{rec_path} is missing: no record of the adapter's base model",
                              "pass a directory written by finetune(..., save='adapter')") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{rec_path} is corrupted: {e}") from None
    model, tok, cfg, path = load_base(base)
    for name, have in (("model_type", model.model_type), ("base_config_sha256", config_digest(path))):
        if record.get(name) != have:
            raise CheckpointError(f"{rec_path}: field {name} = {record.get(name)!r} does not match the base "
                                  f"{path} ({have!r}): the adapter was trained on another model",
                                  f"load it onto its own base ({record.get('base')!r})")
    peft = _peft()
    try:
        net = peft.PeftModel.from_pretrained(model, str(adapter_dir))
    except (ValueError, RuntimeError, OSError) as e:
        raise CheckpointError(f"{adapter_dir}: the adapter does not fit the base ({e})") from None
    net.eval()
    return (net.merge_and_unload() if merge else net), tok, cfg
