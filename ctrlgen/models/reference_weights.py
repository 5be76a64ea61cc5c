"""Reading the weights of a checkpoint written by another library (the SEDD, MDLM and LLaDA references; any
``PyTorchModelHubMixin`` / ``PreTrainedModel`` directory) — one reader for every architecture.

``model.safetensors`` (single or sharded with ``model.safetensors.index.json``) or ``pytorch_model.bin`` (single or
sharded with ``pytorch_model.bin.index.json``, read with ``torch.load(weights_only=True)``: tensors only, never code;
a Lightning ``{"state_dict": …}`` is unwrapped), then checked strictly against the model's own names and shapes.
Every failure is a :class:`~ctrlgen.errors.CheckpointError` naming the file and the tensor at fault.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from ctrlgen.errors import CheckpointError

#: reference architecture → how to use such a directory (``ctrlgen.load`` reads ctrlgen's own layout only: these have
#: no ctrlgen tokenizer, and a released LLaDA / SEDD / MDLM needs its own one)
REFERENCE_USE: dict[str, str] = {
    "llada": "ctrlgen.models.llada.model.LLaDAModel.from_reference(dir), then "
             "ctrlgen.backends.masked.generator.MaskedGenerator(model, tokenizer, seq_len=N)",
    "sedd": "ctrlgen.backends.discrete.pretrained.load_pretrained_score(dir) (the discrete backend's samplers) or "
            "ctrlgen.models.dit.sedd.SEDDModel.from_reference(dir)",
    "mdlm": "ctrlgen.backends.discrete.pretrained.load_pretrained_score(dir) (the discrete backend's samplers) or "
            "ctrlgen.models.dit.mdlm.MDLMModel.from_reference(dir)",
}


def reference_architecture(cfg: Mapping[str, object]) -> str | None:
    """``"llada"``, ``"sedd"`` or ``"mdlm"`` when ``cfg`` (a parsed ``config.json``) is a reference checkpoint of that
    architecture (its own field names, not ctrlgen's layout), else ``None``."""
    archs = cfg.get("architectures") or []
    archs = archs if isinstance(archs, list) else []
    if "model" not in cfg and (cfg.get("model_type") == "llada" or any("LLaDA" in str(a) for a in archs)):
        return "llada"
    if cfg.get("model_type") == "mdlm" or "MDLM" in archs or cfg.get("backbone") == "dit":
        return "mdlm"
    inner = cfg["config"] if isinstance(cfg.get("config"), Mapping) else cfg
    if isinstance(inner.get("model"), Mapping) and "tokens" in inner and "graph" in inner:  # type: ignore[union-attr]
        return "sedd"
    return None


# (single file, index of shards, reader) in the order the Hugging Face loaders prefer them.
_LAYOUTS = (("model.safetensors", "model.safetensors.index.json", "safetensors"),
            ("pytorch_model.bin", "pytorch_model.bin.index.json", "torch"))


def weight_files(directory: Path) -> tuple[list[Path], str]:
    """The weight files of ``directory`` and their format (``"safetensors"`` or ``"torch"``)."""
    for single, index, fmt in _LAYOUTS:
        if (directory / single).is_file():
            return [directory / single], fmt
        if (directory / index).is_file():
            try:
                weight_map = json.loads((directory / index).read_text())["weight_map"]
                names = sorted(set(weight_map.values()))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
                raise CheckpointError(f"{directory / index} is not a shard index ({e!r})",
                                      "it needs a 'weight_map' table {tensor name: shard file}") from None
            missing = [n for n in names if not (directory / n).is_file()]
            if missing:
                raise CheckpointError(f"{directory / index} names shard {missing[0]!r}, which is missing",
                                      "download every shard of the checkpoint")
            return [directory / n for n in names], fmt
    expected = ", ".join(name for layout in _LAYOUTS for name in layout[:2])
    raise CheckpointError(f"{directory} has no weights (looked for {expected})",
                          "pass the directory that holds config.json and the weights")


def read_state(directory: Path) -> dict[str, torch.Tensor]:
    """All tensors of the checkpoint in ``directory`` (on CPU, in their stored dtype)."""
    files, fmt = weight_files(directory)
    state: dict[str, torch.Tensor] = {}
    for path in files:
        try:
            if fmt == "safetensors":
                from safetensors.torch import load_file
                part = load_file(str(path))
            else:
                part = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 — any reader failure means a damaged file
            raise CheckpointError(f"{path} is corrupted or truncated ({type(e).__name__}: {e})",
                                  "re-download the checkpoint") from None
        if isinstance(part, Mapping) and isinstance(part.get("state_dict"), Mapping):  # a Lightning checkpoint
            part = part["state_dict"]
        if not isinstance(part, Mapping) or not all(isinstance(v, torch.Tensor) for v in part.values()):
            raise CheckpointError(f"{path} does not hold a flat {{name: tensor}} state dict")
        state.update(part)
    return state


def check_state(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Size], source: str,
                ignore: Iterable[str] = (), optional: Iterable[str] = ()) -> None:
    """``state`` has exactly the tensors of ``expected`` (name -> shape), apart from names in ``ignore`` (may be
    there, unused) and ``optional`` (may be missing: buffers the model recomputes from its config)."""
    optional = set(optional)
    for name, shape in expected.items():
        if name not in state and name in optional:
            continue
        if name not in state:
            raise CheckpointError(f"{source} lacks tensor {name!r}", "config.json and the weights do not match")
        if state[name].shape != shape:
            raise CheckpointError(f"{source}: tensor {name!r} has shape {tuple(state[name].shape)}, "
                                  f"config.json implies {tuple(shape)}", "config.json and the weights do not match")
        if not state[name].is_floating_point():
            raise CheckpointError(f"{source}: tensor {name!r} has dtype {state[name].dtype}, not floating point")
    extra = sorted(set(state) - set(expected) - set(ignore))
    if extra:
        raise CheckpointError(f"{source} has unexpected tensors {extra[:3]}",
                              "the weights belong to another architecture or config.json is wrong")
