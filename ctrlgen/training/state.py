"""A trainer's state on disk without pickle, and the hygiene of a run folder.

Each checkpoint ``checkpoints/step-K/`` holds, next to the ``save_pretrained`` files (EMA weights)::

    training_state.safetensors   model.{name}            raw (non-EMA) weights, Tensor[...] each
                                 ema.{name}              EMA of each parameter
                                 optimizer.state.{i}.{k} optimizer tensors (AdamW: step[], exp_avg, exp_avg_sq)
                                 rng.torch, rng.cuda.{d} torch RNG states, Tensor[n] uint8
                                 rng.numpy               numpy's MT19937 key, Tensor[624] int64 (when numpy is loaded)
    training_state.json          {"format", "version", "step", "tensors_sha256", "optimizer", "rng",
                                  "config_changes"}: scalars and structure; a tensor leaf is {"__tensor__": key},
                                  a tuple {"__tuple__": [...]}, a dict with int keys {"__intkeys__": {...}}

Loading reads JSON and safetensors only: no code runs whatever the files hold. A run folder holding a pickle
(the old ``training_state.pt``) is refused, never unpickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from torch import Tensor

from ctrlgen.errors import CheckpointError

log = logging.getLogger(__name__)
STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"
FORMAT, VERSION = "ctrlgen.training_state", 1
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin"}
_TEXT_SUFFIXES = {".safetensors", ".json", ".jsonl", ".txt", ".toml", ".md", ".csv"}
_RESUME_HINT = "delete the 'latest' file to start over, or write the name of an older step-* folder into it"


@dataclass
class TrainingState:
    """Everything a trainer needs to continue bit for bit (the EMA weights also live in model.safetensors)."""

    step: int
    model: dict[str, Tensor]  # raw weights by state_dict name
    ema: dict[str, Tensor]  # EMA by parameter name
    optimizer: dict[str, Any]  # optimizer.state_dict()
    rng: dict[str, Any] = field(default_factory=dict)  # capture_rng()
    config_changes: list[dict[str, Any]] = field(default_factory=list)  # accepted --allow-config-change diffs


# ---------------------------------------------------------------------- structure <-> JSON + tensors
def encode(obj: Any, key: str, tensors: dict[str, Tensor]) -> Any:
    """JSON-able form of ``obj``; each tensor goes to ``tensors[key-path]`` (a CPU copy)."""
    if isinstance(obj, Tensor):
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: encode(v, f"{key}.{k}", tensors) for k, v in obj.items()}
        if all(isinstance(k, int) and not isinstance(k, bool) for k in obj):
            return {"__intkeys__": {str(k): encode(v, f"{key}.{k}", tensors) for k, v in obj.items()}}
        raise CheckpointError(f"cannot save {key}: keys {list(obj)[:5]} are neither all str nor all int")
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v, f"{key}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, f"{key}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise CheckpointError(f"cannot save {key}: a {type(obj).__name__} is not a tensor or JSON value")


def decode(obj: Any, tensors: dict[str, Tensor]) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(obj, list):
        return [decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if set(obj) == {"__tensor__"}:
        if obj["__tensor__"] not in tensors:
            raise CheckpointError(f"training state refers to tensor {obj['__tensor__']!r}, absent from "
                                  f"{STATE_TENSORS}", _RESUME_HINT)
        return tensors[obj["__tensor__"]]
    if set(obj) == {"__tuple__"}:
        return tuple(decode(v, tensors) for v in obj["__tuple__"])
    if set(obj) == {"__intkeys__"}:
        return {int(k): decode(v, tensors) for k, v in obj["__intkeys__"].items()}
    return {k: decode(v, tensors) for k, v in obj.items()}


# ---------------------------------------------------------------------- RNG states
def capture_rng() -> dict[str, Any]:
    """torch CPU (and initialised CUDA) generators, python ``random``, numpy's global RNG when numpy is loaded."""
    rng: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    if "numpy" in sys.modules:
        name, keys, pos, has_gauss, cached = sys.modules["numpy"].random.get_state()
        rng["numpy"] = {"name": name, "keys": torch.from_numpy(keys.astype("int64")), "pos": int(pos),
                        "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}
    return rng


def restore_rng(rng: dict[str, Any]) -> None:
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    if "python" in rng:
        version, internal, gauss = rng["python"]
        random.setstate((version, tuple(internal), gauss))
    if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(list(rng["cuda"]))
    if "numpy" in rng:
        import numpy as np  # lazy: only when numpy's RNG state was saved

        s = rng["numpy"]
        np.random.set_state((s["name"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"],
                             s["cached_gaussian"]))


# ---------------------------------------------------------------------- write / read
def write_training_state(directory: Path, state: TrainingState) -> None:
    """Write ``training_state.safetensors`` + ``training_state.json`` into ``directory``."""
    tensors: dict[str, Tensor] = {}
    body = {"format": FORMAT, "version": VERSION, "step": state.step,
            "optimizer": encode(state.optimizer, "optimizer", tensors), "rng": encode(state.rng, "rng", tensors),
            "config_changes": state.config_changes}
    for name, t in state.model.items():
        encode(t, f"model.{name}", tensors)
    for name, t in state.ema.items():
        encode(t, f"ema.{name}", tensors)
    blob = save_bytes(tensors)
    (directory / STATE_TENSORS).write_bytes(blob)
    body["tensors_sha256"] = hashlib.sha256(blob).hexdigest()
    (directory / STATE_JSON).write_text(json.dumps(body, indent=1))


def read_training_state(directory: Path) -> TrainingState:
    """Read the state written by :func:`write_training_state`; any damage is a ``CheckpointError``."""
    refuse_pickles(directory)
    try:
        body = json.loads((directory / STATE_JSON).read_text())
        blob = (directory / STATE_TENSORS).read_bytes()
    except FileNotFoundError as e:
        raise CheckpointError(f"cannot resume from {directory}: {Path(e.filename).name} is missing",
                              _RESUME_HINT) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{directory / STATE_JSON} is corrupted: {e}", _RESUME_HINT) from None
    if not isinstance(body, dict) or body.get("format") != FORMAT or body.get("version") != VERSION:
        raise CheckpointError(f"{directory / STATE_JSON} is not a version-{VERSION} ctrlgen training state",
                              _RESUME_HINT)
    if hashlib.sha256(blob).hexdigest() != body.get("tensors_sha256"):
        raise CheckpointError(f"{directory / STATE_TENSORS} does not match the digest in {STATE_JSON} "
                              "(truncated or altered)", _RESUME_HINT)
    try:
        tensors = load_bytes(blob)
    except SafetensorError as e:
        raise CheckpointError(f"{directory / STATE_TENSORS} is corrupted: {e}", _RESUME_HINT) from None
    try:
        return TrainingState(
            step=int(body["step"]), optimizer=decode(body["optimizer"], tensors), rng=decode(body["rng"], tensors),
            model={k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
            ema={k[4:]: v for k, v in tensors.items() if k.startswith("ema.")},
            config_changes=list(body.get("config_changes", [])))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{directory / STATE_JSON} lacks a field or has a wrong value: {e}",
                              _RESUME_HINT) from None


# ---------------------------------------------------------------------- run-folder hygiene
def looks_pickled(path: Path) -> bool:
    """Whether ``path`` is (or is named like) a pickle or a torch zip archive."""
    if path.suffix in PICKLE_SUFFIXES:
        return True
    if path.suffix in _TEXT_SUFFIXES:
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or head == b"PK\x03\x04"  # pickle, torch zip


def find_pickles(run_dir: Path) -> list[Path]:
    """Pickle-like files in a run folder: its top level, ``checkpoints/*/`` and ``model/``."""
    folders = [run_dir, run_dir / "model", *sorted((run_dir / "checkpoints").glob("*"))]
    return [f for d in folders if d.is_dir() for f in sorted(d.iterdir()) if f.is_file() and looks_pickled(f)]


def refuse_pickles(run_dir: Path) -> None:
    found = find_pickles(run_dir)
    if found:
        raise CheckpointError(
            f"{found[0]} looks like a pickle (the old training_state.pt format); ctrlgen never unpickles a run's "
            f"files, since a crafted pickle runs code when it is loaded",
            "start a new run with --output NEW_DIR (and --no-resume); the weights in a step-* folder's "
            "model.safetensors load safely, e.g. as an initialisation")


def clean_orphans(run_dir: Path) -> list[Path]:
    """Remove temporary folders and files left by a kill during a checkpoint write; returns what went.
    A checkpoint caught between its two renames (``.step-K.old-*`` present, ``step-K`` absent) is put back."""
    ckpts = run_dir / "checkpoints"
    for old in sorted(ckpts.glob(".step-*.old-*")):
        target = ckpts / old.name[1:].split(".old-")[0]
        if not target.exists():
            old.rename(target)
            log.warning("restored checkpoint %s from %s (a write was interrupted)", target, old.name)
    removed = [*ckpts.glob(".step-*.tmp-*"), *ckpts.glob(".step-*.old-*"), *run_dir.glob(".model.tmp-*"),
               *run_dir.glob(".model.old-*"), *run_dir.glob("latest.tmp"), *run_dir.glob("log.jsonl.tmp")]
    for p in removed:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
        log.warning("removed %s, left by an interrupted checkpoint write", p)
    return removed


def truncate_log(path: Path, step: int) -> int:
    """Keep the lines of ``log.jsonl`` up to ``step`` (a resumed run writes the later ones again); drops torn
    lines. Returns how many lines went."""
    if not path.exists():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            ok = int(json.loads(line)["step"]) <= step
        except (ValueError, KeyError, TypeError):
            ok = False
        if ok:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(k + "\n" for k in kept))
        tmp.replace(path)
        log.info("log.jsonl: dropped %d lines after step %d (they are written again)", dropped, step)
    return dropped
