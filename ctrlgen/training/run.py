"""A training run from a TOML config: data → tokenizer → model → objective → ``Trainer``.

Config layout (every table optional except ``[data]``; unknown keys are errors that list the allowed
ones)::

    output_dir = "runs/e2e"            # relative paths resolve against the config file's folder
    backend = "embedding"              # a trainable family: embedding | discrete | edit | ar | ...
    [data]
    train = "${CTRLGEN_DATA}/e2e/train.csv"   # environment variables are expanded
    min_count = 5       # word tokenizer; or tokenizer = "bpe" (byte-level BPE) with vocab_size = 1024
    [model]       # the backend's model config fields except vocab_size (taken from the tokenizer)
    [diffusion]   # the backend's diffusion config (none for "ar")
    [training]    # TrainConfig

A trainable family is a module named in a backend's ``BackendSpec.training`` (or :data:`EXTRA_FAMILIES` for the
AR LM) with ``MODEL_CONFIG``, ``DIFFUSION_CONFIG`` (or None) and ``build(model_config, diffusion_config,
tokenizer) -> (model, objective)`` (:class:`Family`). A backend adds its families in its own spec; nothing
here changes.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch import nn

from ctrlgen.config import from_dict, to_dict
from ctrlgen.errors import ConfigError
from ctrlgen.models.ar_lm import ARLM, ARLMConfig, ARObjective
from ctrlgen.registry import BACKENDS, resolve
from ctrlgen.text.base import BaseTokenizer
from ctrlgen.text.bpe import BPETokenizer
from ctrlgen.text.dataset import encode_corpus
from ctrlgen.text.e2e import file_fingerprint, read_e2e_csv
from ctrlgen.text.tokenizer import Tokenizer
from ctrlgen.training.trainer import TrainConfig, Trainer

log = logging.getLogger(__name__)


@dataclass
class DataConfig:
    train: str  # E2E-style CSV (columns mr, ref); env vars expanded, relative to the config file
    min_count: int = 5  # word tokenizer: keep words seen at least this often (others become UNK)
    tokenizer: Literal["word", "bpe"] = "word"  # word level (spaCy words) or byte-level BPE (any text, no UNK)
    vocab_size: int = 1024  # bpe only: 256 bytes + the specials + merges up to this size

    def __post_init__(self) -> None:
        if self.tokenizer not in ("word", "bpe"):
            raise ConfigError(f"data.tokenizer must be 'word' or 'bpe', got {self.tokenizer!r}",
                              "word: the E2E word vocabulary; bpe: byte-level BPE trained on data.train")


@dataclass
class RunConfig:
    data: DataConfig
    output_dir: str = "runs/embedding"  # where checkpoints, log.jsonl and model/ go
    backend: str = "embedding"  # a name in BACKENDS: which model family to train (ar: teacher / draft LM)
    model: dict[str, Any] = field(default_factory=dict)  # the backend's model config minus vocab_size
    diffusion: dict[str, Any] = field(default_factory=dict)  # the backend's diffusion config (checked by it)
    training: TrainConfig = field(default_factory=TrainConfig)


class Family(Protocol):
    """How ``ctrlgen train`` builds one model family: a module (or namespace) with these three names."""

    MODEL_CONFIG: type  # the [model] table's dataclass (its ``vocab_size`` comes from the tokenizer)
    DIFFUSION_CONFIG: type | None  # the [diffusion] table's dataclass, None = no [diffusion] table

    def build(self, mcfg: Any, dcfg: Any, tok: Tokenizer) -> tuple[nn.Module, nn.Module]: ...  # (model, objective)


def _build_ar(mcfg: Any, dcfg: Any, tok: Tokenizer) -> tuple[nn.Module, nn.Module]:
    model = ARLM(mcfg)
    return model, ARObjective(model)


#: families that are not a generation backend: the AR LM (teacher and draft), a shared model
EXTRA_FAMILIES: dict[str, str] = {"ar": "ctrlgen.training.run:AR_FAMILY"}


class _ARFamily:
    MODEL_CONFIG = ARLMConfig
    DIFFUSION_CONFIG = None
    build = staticmethod(_build_ar)


AR_FAMILY = _ARFamily()


def families() -> dict[str, str]:
    """Every trainable family: the backends' ``BackendSpec.training`` entries plus :data:`EXTRA_FAMILIES`."""
    out = dict(EXTRA_FAMILIES)
    for name in BACKENDS:
        out.update(BACKENDS.get(name).training)
    return out


def get_family(name: str) -> Family:
    """The family of ``backend = NAME`` in a run config (unknown names raise, listing the trainable ones)."""
    table = families()
    if name not in table:
        close = difflib.get_close_matches(name, table, n=1)
        raise ConfigError(f"unknown backend {name!r} in the run config",
                          (f"did you mean {close[0]!r}? " if close else "") + f"trainable: {', '.join(sorted(table))}")
    ref = table[name]
    return importlib.import_module(ref) if ":" not in ref else resolve(ref)  # type: ignore[return-value]


def _resolve(path: str, base: Path, key: str) -> str:
    expanded = os.path.expandvars(path)
    if re.search(r"\$\{?\w+", expanded):
        raise ConfigError(f"{key} = {path!r} uses an environment variable that is not set",
                          "export it (e.g. CTRLGEN_DATA=/path/to/data) or override the path on the command line")
    p = Path(expanded)
    return str(p if p.is_absolute() else base / p)


def load_run_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate a TOML run config. ``overrides`` maps dotted keys (``"training.steps"``) to
    values (``None`` = not given); paths in the file resolve against its folder, override paths
    against the current directory."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist",
                          "pass a TOML file such as recipes/configs/e2e_embedding.toml")
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p} is not valid TOML: {e}") from None
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if "output_dir" in raw and "output_dir" not in given:
        raw["output_dir"] = _resolve(raw["output_dir"], p.parent, "output_dir")
    if isinstance(raw.get("data"), dict) and "train" in raw["data"] and "data.train" not in given:
        raw["data"]["train"] = _resolve(raw["data"]["train"], p.parent, "data.train")
    for dotted, value in given.items():
        if dotted in ("output_dir", "data.train"):
            value = _resolve(str(value), Path.cwd(), dotted)
        *parents, last = dotted.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"cannot set {dotted}: {part} is not a table")
        node[last] = value
    cfg = from_dict(RunConfig, raw, where=p.name)
    backend = get_family(cfg.backend)  # unknown names raise, listing the trainable families
    model_config = backend.MODEL_CONFIG
    if "vocab_size" in cfg.model:
        allowed = sorted({f.name for f in dataclasses.fields(model_config)} - {"vocab_size"})
        raise ConfigError("model.vocab_size is set by the tokenizer", f"remove it; allowed: {allowed}")
    if backend.DIFFUSION_CONFIG is None and "diffusion" in raw:
        raise ConfigError(f"{p.name}: backend {cfg.backend!r} has no [diffusion] table", "remove it")
    _ = from_dict(model_config, {"vocab_size": 6, **cfg.model}, where=f"{p.name}:model")
    _diffusion_config(cfg, p.name)
    return cfg


def _diffusion_config(cfg: RunConfig, where: str = "config") -> Any:
    factory = get_family(cfg.backend).DIFFUSION_CONFIG
    return None if factory is None else from_dict(factory, dict(cfg.diffusion), where=f"{where}:diffusion")


def build_run(cfg: RunConfig) -> Trainer:
    """Everything up to the first step: deterministic given the config."""
    examples = read_e2e_csv(cfg.data.train, parse_mrs=False)
    texts = [e.ref for e in examples]
    out = Path(cfg.output_dir)
    tok: BaseTokenizer = (Tokenizer.train(texts, cfg.data.min_count) if cfg.data.tokenizer == "word"
                          else BPETokenizer.train(texts, cfg.data.vocab_size))
    backend = get_family(cfg.backend)
    mcfg = from_dict(backend.MODEL_CONFIG, {"vocab_size": len(tok), **cfg.model}, "model")
    dcfg = _diffusion_config(cfg)
    data = encode_corpus(texts, tok, mcfg.seq_len)
    extra: dict[str, Any] = {
        "data": {"train_file": Path(cfg.data.train).name, "fingerprint": file_fingerprint(cfg.data.train),
                 "rows": len(texts), "rows_used": int(data.shape[0]), "min_count": cfg.data.min_count,
                 **({} if cfg.data.tokenizer == "word" else {"tokenizer": "bpe", "vocab_size": len(tok)})}}
    torch.manual_seed(cfg.training.seed)
    model, objective = backend.build(mcfg, dcfg, tok)
    if dcfg is not None:
        extra["diffusion"] = to_dict(dcfg)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("%s model: %.2fM parameters, vocabulary %d, %d training rows", cfg.backend, n_params / 1e6, len(tok),
             data.shape[0])
    return Trainer(model, tok, data, objective, cfg.training, out, extra)


def train_from_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None, resume: bool = True,
                      allow_config_change: bool = False) -> Path:
    """Train (or resume) the run a TOML config describes; returns ``output_dir/model``. Resuming with a changed
    training-relevant config or seed raises ``ConfigError`` unless ``allow_config_change`` (then it is logged and
    recorded as ``config_changes`` in the checkpoints' ``config.json``)."""
    return build_run(load_run_config(path, overrides)).train(resume=resume, allow_config_change=allow_config_change)
