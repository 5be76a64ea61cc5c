"""FSDP for fine-tuning: torch's FSDP2 (``torch.distributed.fsdp.fully_shard``) applied by ctrlgen itself.

Why not accelerate's ``FullyShardedDataParallelPlugin``: accelerate 1.15 keeps ``DistributedType.MULTI_CPU`` when
it runs on CPUs and silently drops the plugin (the model is then wrapped in DDP), so that path could only ever run
on GPUs, untested here. ``fully_shard`` runs on CPU with gloo (torch ≥ 2.6; checked on 2.13) and on CUDA with NCCL
alike, so the code the 2-process CPU test runs is the code a GPU launch runs. accelerate still provides the device,
the process group, bf16 autocast, gradient accumulation and the optimiser wrapper.

Sharding (:func:`shard`): every element of every ``nn.ModuleList`` (the transformer blocks of each architecture) is
one FSDP unit, then the root; parameters, gradients and AdamW state are split across the ranks (ZeRO-3), a unit's
parameters are all-gathered for its forward and backward and freed after. :func:`full_state` gathers the full
state dict on every rank (a collective: every rank calls it, in the same order).
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

from ctrlgen.errors import ConfigError

log = logging.getLogger(__name__)

LAUNCH_HINT = ("launch several processes: python -m torch.distributed.run --nproc_per_node N -m ctrlgen.cli.main "
               "finetune ... --strategy fsdp (CPU: add --cpu)")


def _fully_shard() -> tuple[object, object]:
    try:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard
    except ImportError:  # torch < 2.6
        raise ConfigError(f"strategy 'fsdp' needs torch.distributed.fsdp.fully_shard (torch >= 2.6), this is "
                          f"torch {torch.__version__}", "upgrade torch or use strategy 'ddp'") from None
    return fully_shard, init_device_mesh


def shard(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` sharded in place over every process of the default group (module doc); returns it. Build the
    optimiser afterwards: sharding replaces the parameters by ``DTensor`` shards."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise ConfigError("strategy 'fsdp' needs a process group (a multi-process launch); this is a single process",
                          LAUNCH_HINT)
    fully_shard, init_device_mesh = _fully_shard()
    mesh = init_device_mesh(device.type, (dist.get_world_size(),))  # type: ignore[operator]
    module.to(device)
    units = [m for lst in module.modules() if isinstance(lst, nn.ModuleList) for m in lst]
    for unit in reversed(units):  # innermost first
        fully_shard(unit, mesh=mesh)  # type: ignore[operator]
    fully_shard(module, mesh=mesh)  # type: ignore[operator]
    log.info("fsdp: %d units + root over %d processes (%s)", len(units), dist.get_world_size(), device.type)
    return module


def full_state(module: nn.Module) -> dict[str, Tensor]:
    """The unsharded ``state_dict`` of a :func:`shard`-ed module, on CPU, on every rank (a collective)."""
    from torch.distributed.tensor import DTensor

    out: dict[str, Tensor] = {}
    for name, value in module.state_dict().items():
        if isinstance(value, DTensor):
            value = value.full_tensor()
        out[name] = value.detach().cpu().clone()
    return out


def clip_grad_norm(params: list[nn.Parameter], max_norm: float) -> Tensor:
    """Clip the global gradient norm over sharded (``DTensor``) gradients: the norm is reduced across ranks."""
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return norm.full_tensor() if hasattr(norm, "full_tensor") else norm
