"""A training run from a TOML config: data → tokenizer → model → objective → ``Trainer``.

Config layout (every table optional except ``[data]``; unknown keys are errors that list the allowed
ones)::

    output_dir = "runs/e2e"            # relative paths resolve against the config file's folder
    backend = "embedding"
    [data]
    train = "${CTRLGEN_DATA}/e2e/train.csv"   # environment variables are expanded
    min_count = 5
    [model]       # EmbeddingLMConfig fields except vocab_size (taken from the tokenizer)
    [diffusion]   # DiffusionConfig
    [training]    # TrainConfig
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from .config import from_dict, to_dict
from .diffusion.gaussian import DiffusionConfig, EmbeddingObjective, GaussianDiffusion
from .errors import ConfigError
from .models.embedding_lm import EmbeddingLM, EmbeddingLMConfig
from .text import Tokenizer, encode_corpus, file_fingerprint, read_e2e_csv
from .training import Trainer, TrainConfig

log = logging.getLogger(__name__)


@dataclass
class DataConfig:
    train: str  # E2E-style CSV (columns mr, ref); env vars expanded, relative to the config file
    min_count: int = 5  # keep words seen at least this often (others become UNK)


@dataclass
class RunConfig:
    data: DataConfig
    output_dir: str = "runs/embedding"  # where checkpoints, log.jsonl and model/ go
    backend: Literal["embedding", "ar"] = "embedding"  # which model family to train (ar: teacher / draft LM)
    model: dict[str, Any] = field(default_factory=dict)  # the backend's model config minus vocab_size
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    training: TrainConfig = field(default_factory=TrainConfig)


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
    model_config = _model_config_class(cfg.backend)
    if "vocab_size" in cfg.model:
        allowed = sorted({f.name for f in dataclasses.fields(model_config)} - {"vocab_size"})
        raise ConfigError("model.vocab_size is set by the tokenizer", f"remove it; allowed: {allowed}")
    if cfg.backend == "ar" and "diffusion" in raw:
        raise ConfigError(f"{p.name}: backend 'ar' has no [diffusion] table", "remove it")
    _ = from_dict(model_config, {"vocab_size": 6, **cfg.model}, where=f"{p.name}:model")
    return cfg


def _model_config_class(backend: str) -> type:
    if backend == "ar":
        from .models.ar_lm import ARLMConfig

        return ARLMConfig
    return EmbeddingLMConfig


def build_run(cfg: RunConfig) -> Trainer:
    """Everything up to the first step: deterministic given the config."""
    examples = read_e2e_csv(cfg.data.train, parse_mrs=False)
    texts = [e.ref for e in examples]
    out = Path(cfg.output_dir)
    tok = Tokenizer.train(texts, cfg.data.min_count)
    mcfg = from_dict(_model_config_class(cfg.backend), {"vocab_size": len(tok), **cfg.model}, "model")
    data = encode_corpus(texts, tok, mcfg.seq_len)
    extra: dict[str, Any] = {
        "data": {"train_file": Path(cfg.data.train).name, "fingerprint": file_fingerprint(cfg.data.train),
                 "rows": len(texts), "rows_used": int(data.shape[0]), "min_count": cfg.data.min_count}}
    torch.manual_seed(cfg.training.seed)
    objective: torch.nn.Module
    if cfg.backend == "ar":
        from .models.ar_lm import ARLM, ARObjective

        model: torch.nn.Module = ARLM(mcfg)
        objective = ARObjective(model)
    else:
        model = EmbeddingLM(mcfg)
        objective = EmbeddingObjective(model, GaussianDiffusion.from_config(cfg.diffusion))
        extra["diffusion"] = to_dict(cfg.diffusion)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("%s model: %.2fM parameters, vocabulary %d, %d training rows", cfg.backend, n_params / 1e6, len(tok),
             data.shape[0])
    return Trainer(model, tok, data, objective, cfg.training, out, extra)


def train_from_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None, resume: bool = True) -> Path:
    return build_run(load_run_config(path, overrides)).train(resume=resume)
