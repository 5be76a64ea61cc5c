"""Reading a reference checkpoint directory: ``config.json`` and weights, every failure a ``CheckpointError``.

Weights are read by the one reader of other libraries' checkpoints, :mod:`ctrlgen.models.reference_weights`
(safetensors or ``.bin``, sharded or not, tensors only). Loading is strict: a missing tensor, an unexpected one or a
wrong shape names the tensor.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from ctrlgen.errors import CheckpointError
from ctrlgen.models.dit.layers import DiTConfig
from ctrlgen.models.reference_weights import check_state, read_state

CONFIG_FILE = "config.json"
OPTIONAL_BUFFERS = ("rotary_emb.inv_freq",)  # recomputed from the config when a checkpoint leaves it out


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``config.json`` of ``directory``."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: no config.json", "pass the directory the model was saved to")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: not readable JSON ({err})", "re-download or re-save the checkpoint") from err
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(cfg).__name__}")
    return cfg


def field(cfg: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str = "config.json",
          default: Any = ...) -> Any:
    """``cfg[name]`` checked to be a ``kind`` (bool is not an int); a missing or wrong field names itself."""
    if name not in cfg:
        if default is not ...:
            return default
        raise CheckpointError(f"{where}: missing field {name!r}", "is this a checkpoint of this architecture?")
    value = cfg[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    bad_bool = isinstance(value, bool) and bool not in kinds
    if bad_bool or not isinstance(value, kinds):
        want = "/".join(k.__name__ for k in kinds)
        raise CheckpointError(f"{where}: field {name!r} must be {want}, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and int in kinds and value <= 0 and name != "dropout":
        raise CheckpointError(f"{where}: field {name!r} must be > 0, got {value}")
    return value


def dit_config(section: Mapping[str, Any], vocab_size: int, where: str,
               names: Mapping[str, str] | None = None) -> DiTConfig:
    """The trunk's fields read from ``section``; ``names`` maps ctrlgen's field names to the checkpoint's where
    they differ (MDLM's hub config says ``hidden_dim`` and ``model_length``)."""
    names = names or {}
    sizes = {k: field(section, names.get(k, k), int, where, *((1024,) if k == "length" else ()))
             for k in ("hidden_size", "cond_dim", "n_blocks", "n_heads", "length")}
    if sizes["hidden_size"] % sizes["n_heads"]:
        raise CheckpointError(f"{where}: {names.get('hidden_size', 'hidden_size')} {sizes['hidden_size']} is not "
                              f"divisible by n_heads {sizes['n_heads']}")
    return DiTConfig(vocab_size=vocab_size, dropout=float(field(section, "dropout", (int, float), where, 0.0)), **sizes)


def read_weights(directory: str | os.PathLike) -> dict[str, Tensor]:
    """The state dict stored in ``directory`` (:func:`ctrlgen.models.reference_weights.read_state`: safetensors
    preferred, sharded or not, ``.bin`` tensors only)."""
    return read_state(Path(directory))


def load_state(model: nn.Module, state: Mapping[str, Tensor], source: str = "weights") -> None:
    """Copy ``state`` into ``model`` strictly (:func:`ctrlgen.models.reference_weights.check_state`: names the first
    missing, unexpected or wrongly shaped tensor); the rotary ``inv_freq`` buffer may be left out."""
    own = model.state_dict()
    check_state(state, {k: v.shape for k, v in own.items()}, source,
                optional=[k for k in own if k.endswith(OPTIONAL_BUFFERS)])
    model.load_state_dict(dict(state), strict=False)
