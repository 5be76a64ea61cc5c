"""save_pretrained / from_pretrained: ``config.json`` + ``model.safetensors`` + ``tokenizer.json``.

``config.json`` holds ``{"model_type", "ctrlgen_version", "model": {...}, ...extra sections}``;
extra sections (the diffusion schedule, training data fingerprint) are returned to the caller and kept on the
loaded network (:func:`attach`) so that saving it again writes them back. This is the writer and reader behind
every network's ``save_pretrained`` / ``from_pretrained`` (``ctrlgen.models.hub.HubMixin``).
Every failure names the file or field at fault in a ``CheckpointError``; a ``config.json`` written by another
Hugging Face library (``{"architectures": ["GPT2LMHeadModel"], ...}``) is refused as an architecture ctrlgen does
not run, naming the ones it does.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from ctrlgen.config import from_dict, to_dict
from ctrlgen.errors import CheckpointError, ConfigError, CtrlgenError
from ctrlgen.models.integrity import check_finite, seal, verify
from ctrlgen.models.reference_weights import REFERENCE_USE, reference_architecture
from ctrlgen.registry import BACKENDS
from ctrlgen.text.base import BaseTokenizer
from ctrlgen.text.loader import load_tokenizer
from ctrlgen.version import __version__

CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE = "config.json", "model.safetensors", "tokenizer.json"
#: config.json keys that are not sections handed back to the caller (written anew by every save)
HEADER = ("model_type", "ctrlgen_version", "model", "integrity")
AR_LM = "ar-lm"  # the shared AR LM's model_type (models/ar_lm.py: teacher and draft)
T = TypeVar("T")


def supported_model_types() -> list[str]:
    """Every ``model_type`` a ctrlgen network class reads: the backends' (``BackendSpec.models``) and ``ar-lm``."""
    return sorted({AR_LM, *(t for n in BACKENDS for t in BACKENDS.get(n).models)})


def sections(cfg: dict[str, Any]) -> dict[str, Any]:
    """The extra sections of a loaded ``config.json`` (diffusion, data, training, bootstrap, ...)."""
    return {k: v for k, v in cfg.items() if k not in HEADER}


def attach(model: nn.Module, tokenizer: BaseTokenizer, extra: dict[str, Any] | None = None) -> nn.Module:
    """Keep ``tokenizer`` and the config ``extra`` sections on ``model`` (plain attributes ``hub_tokenizer`` and
    ``hub_extra``): what ``model.save_pretrained(directory)`` writes beside the weights. Returns ``model``."""
    model.hub_tokenizer = tokenizer
    model.hub_extra = dict(extra or {})
    return model


def _version() -> str:
    return __version__


def save_pretrained(directory: str | os.PathLike, model: nn.Module, tokenizer: BaseTokenizer,
                    extra: dict[str, Any] | None = None, dtype: torch.dtype | None = None,
                    write_extra: Callable[[Path], None] | None = None) -> Path:
    """Write the checkpoint atomically: into a temporary sibling directory, then rename over
    ``directory`` (an existing checkpoint there is replaced only once the new one is complete).
    ``dtype=torch.float16`` stores floating weights in half precision (they load back as float32).
    ``write_extra(tmp_dir)`` may add files (e.g. a trainer's state) before the rename.
    """
    from safetensors.torch import save_file

    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous()
                 for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE))
        cfg = {"model_type": model.model_type, "ctrlgen_version": _version(),
               "model": to_dict(model.config), **(extra or {})}
        tokenizer.save(tmp)
        cfg["integrity"] = seal(cfg, tmp / WEIGHTS_FILE, tmp / TOKENIZER_FILE)  # checked by load_pretrained
        (tmp / CONFIG_FILE).write_text(json.dumps(cfg, indent=2, ensure_ascii=False))
        if write_extra is not None:
            write_extra(tmp)
        _normal_permissions(tmp)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old)
        else:
            tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target


def _normal_permissions(directory: Path) -> None:
    """mkdtemp makes a private (0700) directory: give the checkpoint the usual umask-based modes."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(directory, 0o777 & ~umask)
    for f in directory.iterdir():
        if f.is_file():
            os.chmod(f, 0o666 & ~umask)


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The ``config.json`` of a ctrlgen checkpoint; a directory that is not one, or a Hugging Face config of an
    architecture ctrlgen does not run, is a :class:`CheckpointError` naming the file and field."""
    path = Path(directory) / CONFIG_FILE
    if not Path(directory).is_dir():
        raise CheckpointError(f"checkpoint directory {directory} does not exist")
    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{directory} is neither a ctrlgen nor a Hugging Face checkpoint: {path} is missing",
                              "a checkpoint directory holds config.json, model.safetensors and tokenizer.json "
                              "(written by save_pretrained())") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is corrupted: {e}") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path} is not a JSON object of fields")
    mtype = cfg.get("model_type")
    arch = reference_architecture(cfg)
    if arch is not None:
        raise CheckpointError(f"{path} is a reference {arch.upper()} checkpoint (its own field names, no ctrlgen "
                              "tokenizer): ctrlgen.load reads ctrlgen's layout only",
                              f"load it with {REFERENCE_USE[arch]}")
    if "model" not in cfg and ("architectures" in cfg or mtype is not None):
        known = supported_model_types()  # only here: it imports the backends' declarations
        if "architectures" in cfg or mtype not in known:
            arch = ", ".join(map(str, cfg.get("architectures") or [])) or f"model_type {mtype!r}"
            raise CheckpointError(f"{path}: field 'architectures'/'model_type' names a Hugging Face model ({arch}), "
                                  "an architecture ctrlgen does not support",
                                  f"ctrlgen loads checkpoints of its own networks: model_type {', '.join(known)}")
    if "model" not in cfg or "model_type" not in cfg:
        raise CheckpointError(f"{path} lacks the field {'model_type' if 'model' in cfg else 'model'!r}",
                              "a ctrlgen config.json holds model_type, ctrlgen_version and the 'model' table")
    return cfg


def load_pretrained(directory: str | os.PathLike, model_cls: type[nn.Module]) -> tuple[nn.Module, BaseTokenizer, dict]:
    """Load ``(model, tokenizer, config dict)``; the model is in eval mode, float32."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    cfg = read_config(directory)
    if cfg["model_type"] != model_cls.model_type:
        raise CheckpointError(f"{directory / CONFIG_FILE}: model_type is {cfg['model_type']!r}, "
                              f"expected {model_cls.model_type!r}", "load it with the matching backend")
    try:
        mcfg = from_dict(model_cls.config_class, cfg["model"], "model")
    except ConfigError as e:
        raise CheckpointError(f"{directory / CONFIG_FILE}: {e.message}", e.hint) from None
    wpath = directory / WEIGHTS_FILE
    if not wpath.is_file():
        raise CheckpointError(f"{wpath} is missing")
    verify(cfg, directory, wpath, directory / TOKENIZER_FILE)  # digests of the weights, tokenizer, config fields
    tokenizer = load_tokenizer(directory)
    if len(tokenizer) != mcfg.vocab_size:
        raise CheckpointError(f"{directory / TOKENIZER_FILE} has {len(tokenizer)} tokens but field model.vocab_size "
                              f"in {directory / CONFIG_FILE} is {mcfg.vocab_size}",
                              "the tokenizer belongs to another model")
    try:
        model = model_cls(mcfg)
    except (ValueError, AssertionError, RuntimeError, TypeError) as e:  # the model's own check of its sizes
        raise CheckpointError(f"{directory / CONFIG_FILE}: the 'model' fields do not make a valid "
                              f"{model_cls.__name__} ({e})", f"check the fields {sorted(cfg['model'])} "
                              "(e.g. hidden must be divisible by heads)") from None
    try:
        state = load_file(str(wpath))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{wpath} is corrupted or truncated ({e})", "re-download or re-train it") from None
    expected = model.state_dict()
    for key, value in expected.items():
        if key not in state:
            raise CheckpointError(f"{wpath} lacks tensor {key!r}", "config.json and weights do not match")
        if state[key].shape != value.shape:
            raise CheckpointError(f"{wpath}: tensor {key!r} has shape {tuple(state[key].shape)}, config "
                                  f"implies {tuple(value.shape)}", "config.json and weights do not match")
    check_finite(state, wpath)
    extra = set(state) - set(expected)
    if extra:
        raise CheckpointError(f"{wpath} has unexpected tensors {sorted(extra)[:3]}")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    model.eval()
    attach(model, tokenizer, sections(cfg))
    return model, tokenizer, cfg


def config_section(directory: str | os.PathLike, cfg: dict[str, Any], name: str, config_cls: type[T]) -> T:
    """``cfg[name]`` (a table of a loaded ``config.json``, e.g. ``"diffusion"``) as ``config_cls``; any problem with
    it is a :class:`CheckpointError` naming the file."""
    try:
        return from_dict(config_cls, cfg.get(name, {}), name)
    except CtrlgenError as e:
        raise CheckpointError(f"{Path(directory) / CONFIG_FILE}: {e.message}", e.hint or None) from None
    except Exception as e:  # noqa: BLE001 — any config problem is a checkpoint problem here
        raise CheckpointError(f"{Path(directory) / CONFIG_FILE}: {e}") from None
