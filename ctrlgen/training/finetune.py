"""Fine-tune a loaded checkpoint through ``accelerate`` (DDP or FSDP, bf16 autocast, gradient accumulation, gradient
clipping), fully or with LoRA adapters from ``peft`` (the optional extra ``ctrlgen[finetune]``, imported only when
LoRA is asked for).

``finetune(base, data, output_dir, FinetuneConfig(...))`` loads ``base`` — a bundled name, a ctrlgen checkpoint or a
reference SEDD / MDLM directory of a model type in :data:`~ctrlgen.training.finetune_models.OBJECTIVES` (masked
LLaDA, discrete SEDD score models, the embedding model, reference SEDD / MDLM DiTs) — and trains it on its own
backend's objective. ``data`` is texts (encoded with the checkpoint's tokenizer at its ``seq_len``) or token ids
``LongTensor[N, L]`` (the only input for a reference directory, which has no ctrlgen tokenizer). It writes
``output_dir`` either

- ``save = "merged"``: a full checkpoint (LoRA merged into the weights): a ctrlgen checkpoint loadable with
  ``ctrlgen.load`` and sealed like every checkpoint, whose ``finetune`` section records the base's ``config.json``
  digest — or, for a reference base, its own layout with ``ctrlgen_finetune.json`` beside it; or
- ``save = "adapter"`` (LoRA only): peft's own layout (``adapter_config.json`` + ``adapter_model.safetensors``) plus
  ``ctrlgen_base.json``, the record of the base model. :func:`load_adapter` refuses another base
  (``CheckpointError`` naming the field ``base_config_sha256``).

One process or N (``torchrun`` / ``accelerate launch --multi_gpu``; gloo on CPU, docs/finetune.md): ``batch_size``
is per process per micro-batch, ``steps`` counts optimiser steps, the batch and noise of micro-step k on rank r are
functions of (seed, k, r) only. ``strategy = "ddp"`` replicates the model (accelerate's DDP), ``"fsdp"`` shards it
(:mod:`ctrlgen.training.finetune_fsdp`, CPU and CUDA); both train the same weights up to float rounding.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ctrlgen.config import to_dict
from ctrlgen.errors import CheckpointError, ConfigError
from ctrlgen.models.pretrained import save_pretrained, sections
from ctrlgen.text.base import BaseTokenizer
from ctrlgen.text.dataset import encode_corpus
from ctrlgen.training.finetune_fsdp import clip_grad_norm, full_state, shard
from ctrlgen.training.finetune_models import (
    LORA_TARGETS,
    OBJECTIVES,
    Base,
    config_digest,
    load_base,
    write_reference,
)

log = logging.getLogger(__name__)

BASE_RECORD = "ctrlgen_base.json"  # beside an adapter: which base it was trained on
PEFT_HINT = "pip install 'ctrlgen[finetune]' (or: pip install peft)"
STRATEGIES = ("ddp", "fsdp")


@dataclass
class LoraSettings:
    r: int = 8  # adapter rank
    alpha: float = 16.0  # LoRA scale alpha / r
    dropout: float = 0.0  # dropout on the adapter's input
    target_modules: list[str] | None = None  # module names to adapt; None = LORA_TARGETS[model_type](model)

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
    strategy: Literal["ddp", "fsdp"] = "ddp"  # replicate (DDP) or shard (FSDP) the model across processes
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
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"finetune.strategy must be one of {STRATEGIES}, got {self.strategy!r}")
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


def add_lora(model: nn.Module, settings: LoraSettings, model_type: str) -> nn.Module:
    """``model`` wrapped in a ``peft.PeftModel`` with fresh adapters; only adapter weights require grad."""
    peft = _peft()
    targets = settings.target_modules or list(LORA_TARGETS[model_type](model) if model_type in LORA_TARGETS else ())
    if not targets:
        raise ConfigError(f"no default LoRA targets for model_type {model_type!r}", "set lora.target_modules")
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
    model: nn.Module  # this process's trained network, unsharded (LoRA merged when save = "merged")
    losses: list[float]  # this process's loss per micro-batch


def _accelerator(cfg: FinetuneConfig) -> Any:
    """A fresh ``Accelerator``: accelerate keeps its settings in process-wide singletons that refuse a second
    run with other settings, so they are reset first (the process group, ``PartialState``, is kept)."""
    try:
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState, GradientState
        from accelerate.utils import DistributedType
    except ImportError:
        raise ConfigError("fine-tuning needs the optional package 'accelerate', which is not installed",
                          PEFT_HINT.replace("peft", "accelerate peft")) from None

    AcceleratorState._reset_state()
    GradientState._reset_state()
    # without CUDA, cpu=True: accelerate 1.15 otherwise treats each process of a launch as a lone one (NO)
    acc = Accelerator(mixed_precision=cfg.mixed_precision, cpu=cfg.cpu or not torch.cuda.is_available(),
                      gradient_accumulation_steps=cfg.gradient_accumulation_steps)
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    if world != acc.num_processes:
        raise ConfigError(f"the launch started {world} processes but accelerate sees {acc.num_processes}",
                          "launch with torch.distributed.run or accelerate launch --multi_gpu (docs/finetune.md)")
    if acc.distributed_type == DistributedType.FSDP:  # `accelerate launch --use_fsdp` / ACCELERATE_USE_FSDP
        raise ConfigError("accelerate is configured for its own FSDP (--use_fsdp / ACCELERATE_USE_FSDP); ctrlgen "
                          "shards the model itself", "launch without --use_fsdp and pass strategy 'fsdp' "
                                                     "(ctrlgen finetune --strategy fsdp)")
    return acc


def _rows_of(data: Sequence[str] | Tensor, base: Base) -> Tensor:
    """``LongTensor[N, L]``: ``data``'s texts encoded with the base's tokenizer, or its token ids checked."""
    if isinstance(data, Tensor):
        if data.dtype != torch.long or data.dim() != 2 or not len(data):
            raise ConfigError(f"token ids must be a non-empty LongTensor[N, L], got {data.dtype} {tuple(data.shape)}")
        if int(data.min()) < 0 or int(data.max()) >= base.vocab_size or data.shape[1] > base.seq_len:
            raise ConfigError(f"token ids must lie in [0, {base.vocab_size}) with L <= {base.seq_len}, got "
                              f"[{int(data.min())}, {int(data.max())}] and L = {data.shape[1]}")
        return data
    if base.tokenizer is None:
        raise ConfigError(f"{base.path} is a reference {base.model_type.upper()} checkpoint without a ctrlgen "
                          "tokenizer: texts cannot be encoded", "pass token ids, a LongTensor[N, L]")
    return encode_corpus(list(data), base.tokenizer, base.seq_len)


def _build(base: Base, cfg: FinetuneConfig) -> nn.Module:
    """The objective around ``base.model`` (with fresh LoRA adapters when asked; seeded, so equal on every rank)."""
    torch.manual_seed(cfg.seed)
    net = add_lora(base.model, cfg.lora, base.model_type) if cfg.lora is not None else base.model
    return OBJECTIVES[base.model_type](net, base)


def finetune(base: str | os.PathLike, data: Sequence[str] | Tensor, output_dir: str | os.PathLike,
             config: FinetuneConfig | None = None) -> Finetuned:
    """Fine-tune ``base`` on ``data`` (texts or token ids ``LongTensor[N, L]``) and write ``output_dir`` (module
    doc). Every process of a launch calls it; the main process writes."""
    cfg = config or FinetuneConfig()
    if cfg.lora is not None:
        _peft()  # fail before loading anything
    acc = _accelerator(cfg)
    b = load_base(base)
    rows = _rows_of(data, b)
    objective = _build(b, cfg)
    objective.train()
    fsdp = cfg.strategy == "fsdp"
    if fsdp:
        objective = shard(objective, acc.device)
    params = [p for p in objective.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if fsdp:
        opt = acc.prepare(opt)
    else:
        objective, opt = acc.prepare(objective, opt)
    rank, world, total = acc.process_index, acc.num_processes, cfg.steps * cfg.gradient_accumulation_steps
    losses: list[float] = []
    for k in range(total):
        seed = (cfg.seed * 1_000_003 + k) * 64 + rank
        gen = torch.Generator(device=acc.device).manual_seed(seed)
        batch = rows[_rows(k, len(rows), cfg.batch_size, rank, world, cfg.seed)].to(acc.device)
        with acc.accumulate(objective):
            with acc.autocast() if fsdp else contextlib.nullcontext():  # DDP: prepare() added autocast
                loss = objective(batch, gen)["loss"].mean()
            acc.backward(loss)
            if acc.sync_gradients and cfg.grad_clip > 0:
                clip_grad_norm(params, cfg.grad_clip) if fsdp else acc.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if acc.sync_gradients and ((k + 1) // cfg.gradient_accumulation_steps) % cfg.log_every == 0:
            window = losses[-cfg.log_every * cfg.gradient_accumulation_steps:]
            log.info("finetune step %d loss %.4f", (k + 1) // cfg.gradient_accumulation_steps, sum(window) / len(window))
    acc.wait_for_everyone()
    if fsdp:  # gather the shards on every rank into an unsharded copy of the same network
        state, fresh = full_state(objective), _build(load_base(base), cfg)
        fresh.load_state_dict(state)
        trained = fresh.model
    else:
        trained = acc.unwrap_model(objective).model
    if cfg.save == "merged":  # every rank returns the network it writes
        trained = (trained.merge_and_unload() if cfg.lora is not None else trained).eval()
    out = Path(output_dir)
    if acc.is_main_process:
        record = {"base": str(base), "base_config_sha256": config_digest(b.path), "model_type": b.model_type,
                  "processes": world, "config": to_dict(cfg), "losses": [round(x, 5) for x in losses]}
        _write(trained, b, out, cfg, record)
    acc.wait_for_everyone()
    return Finetuned(out, trained, losses)


def _write(net: nn.Module, base: Base, out: Path, cfg: FinetuneConfig, record: dict[str, Any]) -> None:
    """Write the adapter (peft layout + :data:`BASE_RECORD`) or the merged network (a checkpoint in the base's
    layout)."""
    if cfg.save == "adapter":
        net.save_pretrained(str(out))
        (out / BASE_RECORD).write_text(json.dumps(record, indent=2))
    elif base.tokenizer is None:
        write_reference(net, base, out, record)
    else:
        save_pretrained(out, net, base.tokenizer, {**sections(base.config), "finetune": record})


def load_adapter(base: str | os.PathLike, adapter_dir: str | os.PathLike,
                 merge: bool = True) -> tuple[nn.Module, BaseTokenizer | None, dict[str, Any]]:
    """``(model, tokenizer, base config dict)``: ``base`` with the adapter of ``adapter_dir`` (merged into plain
    weights when ``merge``). An adapter trained on another base is a ``CheckpointError`` naming the field. The
    tokenizer is ``None`` for a reference base."""
    adapter_dir = Path(adapter_dir)
    rec_path = adapter_dir / BASE_RECORD
    try:
        record = json.loads(rec_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{rec_path} is missing: no record of the adapter's base model",
                              "pass a directory written by finetune(..., save='adapter')") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{rec_path} is corrupted: {e}") from None
    b = load_base(base)
    for name, have in (("model_type", b.model_type), ("base_config_sha256", config_digest(b.path))):
        if record.get(name) != have:
            raise CheckpointError(f"{rec_path}: field {name} = {record.get(name)!r} does not match the base "
                                  f"{b.path} ({have!r}): the adapter was trained on another model",
                                  f"load it onto its own base ({record.get('base')!r})")
    peft = _peft()
    try:
        net = peft.PeftModel.from_pretrained(b.model, str(adapter_dir))
    except (ValueError, RuntimeError, OSError) as e:
        raise CheckpointError(f"{adapter_dir}: the adapter does not fit the base ({e})") from None
    net.eval()
    return (net.merge_and_unload() if merge else net), b.tokenizer, b.config
