"""One trainer for every model: AdamW, warmup + decay, EMA, gradient clipping, progress,
atomic periodic checkpoints and exact resume, DDP under ``torchrun`` (gloo on CPU, NCCL on GPU).

The trainer knows nothing about diffusion: it gets an ``objective`` module whose
``forward(batch: Tensor[B, L], generator) -> dict`` returns ``"loss": Tensor[B]`` (and other terms to log)
and whose parameters are the model's; under DDP the objective is what gets wrapped. Determinism: the batch and all random draws of step k are
functions of (seed, k, rank) only, so a run resumed from step k continues bit for bit.

Layout of ``output_dir``::

    checkpoints/step-0001000/   save_pretrained files (EMA weights) + training_state.safetensors/.json
                                (raw weights, EMA, optimizer, RNG states, step: no pickle, see training.state)
    latest                      name of the newest complete checkpoint (replaced atomically)
    log.jsonl                   one line per log interval: step, lr, losses, steps/s (cut back to the resumed step)
    model/                      the final EMA model (save_pretrained), written at the end

A resume refuses a folder holding a pickle, removes temporary folders left by a kill during a write, and refuses
a changed training-relevant config (``training.resume``: seed, model, schedule, and ``steps`` when it changes the
learning rate of steps already taken) unless ``allow_config_change``; changed logistics are logged at WARNING.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ctrlgen.config import to_dict
from ctrlgen.errors import CheckpointError, ConfigError, DistributedError, TrainingStopped
from ctrlgen.models.pretrained import read_config, save_pretrained
from ctrlgen.text.tokenizer import Tokenizer
from ctrlgen.training import resume as resume_policy
from ctrlgen.training import state as run_state

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    steps: int = 50000  # optimiser steps in total
    batch_size: int = 64  # global batch (split evenly across DDP processes)
    lr: float = 1e-3  # peak learning rate
    lr_schedule: Literal["constant", "linear", "cosine"] = "cosine"  # decay after warmup
    min_lr_ratio: float = 0.1  # final lr = lr * min_lr_ratio (linear/cosine)
    warmup_steps: int = 500  # linear warmup from 0
    weight_decay: float = 0.0  # AdamW weight decay
    betas: list[float] | None = None  # AdamW betas, default (0.9, 0.999)
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping
    ema_decay: float = 0.9999  # EMA of the weights; warmed up as min(decay, (1+k)/(10+k))
    seed: int = 0  # seeds data order, noise and dropout
    log_every: int = 100  # steps between log.jsonl lines
    checkpoint_every: int = 1000  # steps between checkpoints
    keep_checkpoints: int = 2  # how many recent checkpoints stay on disk
    threads: int = 0  # torch intra-op threads per process; 0 = torch's default
    device: str = "auto"  # "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:1", …


def lr_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    frac = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    lo = cfg.lr * cfg.min_lr_ratio
    if cfg.lr_schedule == "linear":
        return cfg.lr - (cfg.lr - lo) * frac
    return lo + 0.5 * (cfg.lr - lo) * (1 + math.cos(math.pi * frac))


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` → CUDA when available (this process's local rank under torchrun), else CPU."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"training.device is {str(device)!r} but this torch build sees no CUDA device",
                          "use device = \"auto\" or \"cpu\"")
    return dev


class _StopOnSignal:
    """While active, SIGTERM/SIGINT set ``requested`` instead of killing the process, so the loop can finish
    the step, write a checkpoint and stop (no lost work when a job is cut off)."""

    def __init__(self) -> None:
        self.requested = 0
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = signum
        if signum == signal.SIGINT and self._old.get(signum) is not None:
            signal.signal(signum, self._old[signum])  # a second Ctrl-C interrupts at once

    def __enter__(self) -> Self:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _dist() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


class Trainer:
    """Train ``model`` on the rows of ``data: Tensor[N, L]`` by minimising ``objective``."""

    def __init__(self, model: nn.Module, tokenizer: Tokenizer, data: Tensor, objective: nn.Module,
                 config: TrainConfig, output_dir: str | os.PathLike, extra_config: dict[str, Any] | None = None,
                 device: str | torch.device | None = None) -> None:
        self.cfg = config
        if config.steps <= 0 or config.batch_size <= 0:
            raise ConfigError(f"training.steps and training.batch_size must be > 0, got {config.steps}, "
                              f"{config.batch_size}")
        self.rank, self.world = _dist()
        if config.batch_size % self.world:
            raise DistributedError(f"batch_size {config.batch_size} is not divisible by {self.world} processes",
                                   "choose a batch size that is a multiple of --nproc_per_node")
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = resolve_device(config.device if device is None else device)
        self.model = model.to(self.device)
        self.tokenizer, self.data = tokenizer, data
        self.objective = objective.to(self.device)
        self.out = Path(output_dir)
        self.extra = dict(extra_config or {})
        self.extra["training"] = to_dict(config)
        betas = tuple(config.betas) if config.betas else (0.9, 0.999)
        self.opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=betas)
        self.ema = [p.detach().clone() for p in model.parameters()]
        self.step = 0
        self.config_changes: list[dict[str, Any]] = []  # accepted config changes on resume, carried along
        self.ddp: nn.Module = self.objective
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp = DistributedDataParallel(self.objective)

    # ------------------------------------------------------------------ data order
    def _perm(self, epoch: int) -> Tensor:
        if getattr(self, "_perm_cache", (None,))[0] != epoch:
            g = torch.Generator().manual_seed(self.cfg.seed * 7919 + epoch)
            self._perm_cache = (epoch, torch.randperm(len(self.data), generator=g))
        return self._perm_cache[1]

    def batch_indices(self, step: int) -> Tensor:
        """Row indices of this process's share of the global batch of ``step``."""
        per = self.cfg.batch_size // self.world
        start = step * self.cfg.batch_size + self.rank * per
        idx = [int(self._perm((start + j) // len(self.data))[(start + j) % len(self.data)]) for j in range(per)]
        return torch.tensor(idx)

    # ------------------------------------------------------------------ checkpoints
    def _ema_model_state(self) -> dict[str, Tensor]:
        names = [n for n, _ in self.model.named_parameters()]
        state = dict(self.model.state_dict())
        state.update(dict(zip(names, self.ema)))
        return state

    def save_checkpoint(self) -> Path:
        """Write ``checkpoints/step-K`` atomically and point ``latest`` at it (rank 0 only)."""
        ckdir = self.out / "checkpoints" / f"step-{self.step:07d}"
        raw = {k: v.detach().clone() for k, v in self.model.state_dict().items()}  # copied before the EMA swap
        ema = dict(zip([n for n, _ in self.model.named_parameters()], self.ema))
        state = run_state.TrainingState(self.step, raw, ema, self.opt.state_dict(), run_state.capture_rng(),
                                        self.config_changes)
        with _swapped_weights(self.model, self._ema_model_state()):
            save_pretrained(ckdir, self.model, self.tokenizer, self.extra,
                            write_extra=lambda d: run_state.write_training_state(d, state))
        self._set_latest(ckdir.name)
        olds = sorted((self.out / "checkpoints").glob("step-*"))[:-max(1, self.cfg.keep_checkpoints)]
        for old in olds:
            shutil.rmtree(old, ignore_errors=True)
        return ckdir

    def _set_latest(self, name: str) -> None:
        tmp = self.out / "latest.tmp"
        tmp.write_text(name)
        os.replace(tmp, self.out / "latest")

    def resume(self, allow_config_change: bool = False) -> bool:
        """Load the checkpoint named in ``output_dir/latest`` if there is one. A changed training-relevant
        config (seed included; ``training.steps`` when it changes the learning rate of steps already taken)
        raises ``ConfigError`` naming the fields, unless ``allow_config_change``; changed logistics
        (``training.resume.RUN_FIELDS``) are logged at WARNING."""
        pointer = self.out / "latest"
        if not pointer.exists():
            return False
        ckdir = self.out / "checkpoints" / pointer.read_text().strip()
        saved = read_config(ckdir)
        st = run_state.read_training_state(ckdir)
        current = {"model": to_dict(self.model.config), **self.extra}
        refused, allowed = resume_policy.resume_changes(saved, current, self.cfg, st.step, lr_at)
        if refused and not allow_config_change:
            raise ConfigError(f"cannot resume {self.out} at step {st.step}: the config differs from its checkpoint "
                              f"in {resume_policy.explain(refused)}",
                              "use the run's config again, pass --allow-config-change (allow_config_change=True) "
                              "to continue with the new values, or choose another --output for a new run")
        try:
            self.model.load_state_dict({k: v.to(self.device) for k, v in st.model.items()})
            self.ema = [st.ema[n].to(self.device) for n, _ in self.model.named_parameters()]
            self.opt.load_state_dict(st.optimizer)
        except (RuntimeError, KeyError, ValueError) as e:
            raise CheckpointError(f"cannot resume from {ckdir}: its training state does not fit this model ({e})",
                                  "use the run's model config, or another --output for a new run") from None
        for g in self.opt.param_groups:  # a changed config's hyperparameters win over the saved ones
            g["weight_decay"], g["betas"] = self.cfg.weight_decay, tuple(self.cfg.betas or (0.9, 0.999))
        run_state.restore_rng(st.rng)
        self.step = st.step
        self.config_changes = st.config_changes
        if allowed:
            log.warning("resuming %s at step %d with changed run settings: %s", self.out, self.step,
                        resume_policy.show(allowed))
        if refused:
            log.warning("resuming %s at step %d with a changed config: %s", self.out, self.step,
                        resume_policy.show(refused))
            self.config_changes = [*self.config_changes, {"step": self.step, "changed": refused}]
        if self.config_changes:
            self.extra["config_changes"] = self.config_changes
        log.info("resumed from %s (step %d)", ckdir, self.step)
        return True

    # ------------------------------------------------------------------ loop
    def train(self, resume: bool = True, allow_config_change: bool = False) -> Path:
        """Run to ``config.steps``; returns the final model directory ``output_dir/model``."""
        cfg = self.cfg
        if self.rank == 0 and self.out.is_dir():
            run_state.clean_orphans(self.out)
        if self.world > 1:
            dist.barrier()  # orphans gone (or a half-renamed checkpoint put back) before any rank reads
        if resume:
            run_state.refuse_pickles(self.out)
            self.resume(allow_config_change)
        elif (self.out / "latest").exists() or (self.out / "model").exists():
            raise CheckpointError(f"{self.out} already holds a run", "resume it, or choose another output directory")
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            run_state.truncate_log(self.out / "log.jsonl", self.step)
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=self.step, disable=self.rank != 0 or not sys.stderr.isatty(),
                   desc="train", dynamic_ncols=True)
        self.model.train()
        with _StopOnSignal() as stop:
            self._loop(bar, stop)
        bar.close()
        if stop.requested:
            raise TrainingStopped(f"training stopped by signal {stop.requested} at step {self.step}; checkpoint "
                                  f"written to {self.out / 'checkpoints'}")
        final = self.out / "model"
        if self.rank == 0:
            with _swapped_weights(self.model, self._ema_model_state()):
                save_pretrained(final, self.model, self.tokenizer, self.extra)
        if self.world > 1:
            dist.barrier()
        return final

    def _loop(self, bar: Any, stop: _StopOnSignal) -> None:
        """Optimiser steps until ``config.steps`` or a stop signal (then one last checkpoint)."""
        cfg = self.cfg
        params = list(self.model.parameters())
        sums: dict[str, Tensor] = {}  # summed on the device: no host sync per step
        t0, n0 = time.perf_counter(), self.step
        while self.step < cfg.steps:
            seed = (cfg.seed * 1_000_003 + self.step) * 64 + self.rank
            torch.manual_seed(seed)  # dropout
            gen = torch.Generator(device=self.device).manual_seed(seed)
            batch = self.data[self.batch_indices(self.step)].to(self.device)
            for g in self.opt.param_groups:
                g["lr"] = lr_at(cfg, self.step)
            terms = self.ddp(batch, gen)
            loss = terms["loss"].mean()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            self.opt.step()
            decay = min(cfg.ema_decay, (1 + self.step) / (10 + self.step))
            with torch.no_grad():
                torch._foreach_lerp_(self.ema, [p.detach() for p in params], 1 - decay)
            self.step += 1
            for k, v in terms.items():
                v = v.detach().mean()
                sums[k] = sums[k] + v if k in sums else v
            bar.update(1)
            if self.rank == 0 and (self.step % cfg.log_every == 0 or self.step == cfg.steps):
                n = self.step - n0
                rec = {"step": self.step, "lr": lr_at(cfg, self.step - 1),
                       **{k: float(v) / max(1, n) for k, v in sums.items()},
                       "steps_per_s": n / (time.perf_counter() - t0)}
                bar.set_postfix(loss=f"{rec['loss']:.3f}")
                with open(self.out / "log.jsonl", "a") as f:
                    f.write(json.dumps(rec) + "\n")
                log.info("step %d loss %.4f", self.step, rec["loss"])
                sums, t0, n0 = {}, time.perf_counter(), self.step
            due = self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps
            if self.rank == 0 and (due or stop.requested):
                self.save_checkpoint()
            if stop.requested:
                return


class _swapped_weights:
    """Context manager: temporarily load ``state`` into ``model`` (e.g. EMA weights for saving)."""

    def __init__(self, model: nn.Module, state: dict[str, Tensor]) -> None:
        self.model, self.state = model, state

    def __enter__(self) -> nn.Module:
        self.saved = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.state)
        return self.model

    def __exit__(self, *exc: object) -> None:
        self.model.load_state_dict(self.saved)
