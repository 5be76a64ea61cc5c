"""``ctrlgen finetune BASE --data CSV --output DIR [--steps N] [--lora [--save adapter]] [--mixed-precision bf16]
[--strategy ddp|fsdp]``: fine-tune a ctrlgen checkpoint (masked, discrete or embedding model) through ``accelerate``
(:mod:`ctrlgen.training.finetune`; reference SEDD / MDLM / LLaDA folders train on token ids, from Python). Several
processes: ``python -m torch.distributed.run --nproc_per_node N -m ctrlgen.cli.main finetune ...`` (CPU or GPU) or
``accelerate launch --multi_gpu --num_processes N -m ctrlgen.cli.main finetune ...`` (docs/finetune.md)."""

from __future__ import annotations

import argparse

import torch.distributed as dist

from ctrlgen.core.options import positive_int
from ctrlgen.text.e2e import read_e2e_csv
from ctrlgen.training.finetune import FinetuneConfig, LoraSettings, finetune


def finetune_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``ctrlgen finetune`` (module doc)."""
    p.add_argument("base", help="bundled model name or checkpoint directory to start from (e.g. e2e-masked)")
    p.add_argument("--data", required=True, help="E2E-style CSV (column ref) to fine-tune on")
    p.add_argument("--output", required=True, help="directory to write (a checkpoint, or an adapter with --save adapter)")
    p.add_argument("--steps", type=positive_int, default=100, help="optimiser steps (default 100)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="rows per process per micro-batch (default 8)")
    p.add_argument("--grad-accum", type=positive_int, default=1, help="micro-batches per optimiser step (default 1)")
    p.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (default 1e-4)")
    p.add_argument("--mixed-precision", choices=("no", "bf16"), default="no", help="bf16 autocast (default no)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when CUDA is present")
    p.add_argument("--strategy", choices=("ddp", "fsdp"), default="ddp",
                   help="several processes: replicate the model (ddp, default) or shard it (fsdp)")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters only (needs peft: ctrlgen[finetune])")
    p.add_argument("--lora-r", type=positive_int, default=8, help="adapter rank (default 8)")
    p.add_argument("--lora-alpha", type=float, default=16.0, help="LoRA alpha (default 16)")
    p.add_argument("--lora-dropout", type=float, default=0.0, help="adapter dropout (default 0)")
    p.add_argument("--lora-targets", help="comma-separated module names (default: the attention projections)")
    p.add_argument("--save", choices=("merged", "adapter"), default="merged",
                   help="write the merged checkpoint (default) or only the adapter (with --lora)")


def run(args: argparse.Namespace) -> int:
    """``ctrlgen finetune``: prints the written directory (the main process of a launch)."""
    lora = None
    if args.lora:
        targets = [t.strip() for t in args.lora_targets.split(",") if t.strip()] if args.lora_targets else None
        lora = LoraSettings(r=args.lora_r, alpha=args.lora_alpha, dropout=args.lora_dropout, target_modules=targets)
    cfg = FinetuneConfig(steps=args.steps, batch_size=args.batch_size, gradient_accumulation_steps=args.grad_accum,
                         lr=args.lr, mixed_precision=args.mixed_precision, seed=args.seed, cpu=args.cpu, lora=lora,
                         save=args.save, strategy=args.strategy)
    texts = [e.ref for e in read_e2e_csv(args.data)]
    res = finetune(args.base, texts, args.output, cfg)
    if not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0:  # once per launch
        print(res.output_dir)
    return 0
