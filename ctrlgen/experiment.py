"""A training run from a TOML config: data → tokenizer → model → objective → ``Trainer``.

Config layout (every table optional except ``[data]``; unknown keys are errors that list the allowed
ones)::

    output_dir = "runs/e2e"            # relative paths resolve against the config file's folder
    backend = "embedding"              # a name in BACKENDS: embedding | discrete | ar (| edit ...)
    [data]
    train = "${CTRLGEN_DATA}/e2e/train.csv"   # environment variables are expanded
    min_count = 5
    [model]       # the backend's model config fields except vocab_size (taken from the tokenizer)
    [diffusion]   # the backend's diffusion config (none for "ar")
    [training]    # TrainConfig

A backend is a ``Backend`` entry in ``BACKENDS``: its model-config class, its diffusion-config class (or
None) and a ``build(model_config, diffusion_config, tokenizer) -> (model, objective)`` function. Adding a
model family to ``ctrlgen train`` is one ``BACKENDS.register(...)`` call; nothing else here changes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import from_dict, to_dict
from .errors import ConfigError
from .registry import Registry
from .text import Tokenizer, encode_corpus, file_fingerprint, read_e2e_csv
from .training import TrainConfig, Trainer

log = logging.getLogger(__name__)


@dataclass
class DataConfig:
    train: str  # E2E-style CSV (columns mr, ref); env vars expanded, relative to the config file
    min_count: int = 5  # keep words seen at least this often (others become UNK)


@dataclass
class RunConfig:
    data: DataConfig
    output_dir: str = "runs/embedding"  # where checkpoints, log.jsonl and model/ go
    backend: str = "embedding"  # a name in BACKENDS: which model family to train (ar: teacher / draft LM)
    model: dict[str, Any] = field(default_factory=dict)  # the backend's model config minus vocab_size
    diffusion: dict[str, Any] = field(default_factory=dict)  # the backend's diffusion config (checked by it)
    training: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class Backend:
    """How ``ctrlgen train`` builds one model family. The classes are returned by zero-argument functions so
    that importing this module stays cheap (transformers is only imported for ``ar``)."""

    model_config: Callable[[], type]  # the model's config dataclass (its ``vocab_size`` comes from the tokenizer)
    diffusion_config: Callable[[], type] | None  # the diffusion config dataclass, None = no [diffusion] table
    build: Callable[[Any, Any, Tokenizer], tuple[nn.Module, nn.Module]]  # (mcfg, dcfg, tok) -> (model, objective)


def _build_embedding(mcfg: Any, dcfg: Any, tok: Tokenizer) -> tuple[nn.Module, nn.Module]:
    from .diffusion.gaussian import EmbeddingObjective, GaussianDiffusion
    from .models.embedding_lm import EmbeddingLM

    model = EmbeddingLM(mcfg)
    return model, EmbeddingObjective(model, GaussianDiffusion.from_config(dcfg))


def _build_discrete(mcfg: Any, dcfg: Any, tok: Tokenizer) -> tuple[nn.Module, nn.Module]:
    from .diffusion.discrete import DiscreteDiffusion, DiscreteObjective
    from .models.score_model import ScoreModel

    if mcfg.graph != dcfg.graph:
        raise ConfigError(f"model.graph = {mcfg.graph!r} but diffusion.graph = {dcfg.graph!r}",
                          "set both to the same graph (the model's output scaling depends on it)")
    model = ScoreModel(mcfg)
    return model, DiscreteObjective(model, DiscreteDiffusion.from_config(dcfg, len(tok), tok.vocab.mask_id))


def _build_ar(mcfg: Any, dcfg: Any, tok: Tokenizer) -> tuple[nn.Module, nn.Module]:
    from .models.ar_lm import ARLM, ARObjective

    model = ARLM(mcfg)
    return model, ARObjective(model)


def _build_edit(mcfg: Any, dcfg: Any, tok: Tokenizer) -> tuple[nn.Module, nn.Module]:
    from .models.edit_models_joint import EditModel, EditObjective

    model = EditModel(mcfg)
    return model, EditObjective(model, dcfg)


def _build_edit_ar_generator(mcfg: Any, dcfg: Any, tok: Tokenizer) -> tuple[nn.Module, nn.Module]:
    from .models.edit_ar_generator import EditARGenerator, EditARObjective

    model = EditARGenerator(mcfg)
    return model, EditARObjective(model, dcfg)


def _cls(module: str, name: str) -> Callable[[], type]:
    def get() -> type:
        import importlib

        return getattr(importlib.import_module(module, __package__), name)  # type: ignore[no-any-return]
    return get


BACKENDS: Registry[Backend] = Registry("backend")
BACKENDS.register("embedding", Backend(_cls(".models.embedding_lm", "EmbeddingLMConfig"),
                                       _cls(".diffusion.gaussian", "DiffusionConfig"), _build_embedding))
BACKENDS.register("discrete", Backend(_cls(".models.score_model", "ScoreModelConfig"),
                                      _cls(".diffusion.discrete", "DiscreteDiffusionConfig"), _build_discrete))
BACKENDS.register("ar", Backend(_cls(".models.ar_lm", "ARLMConfig"), None, _build_ar))
BACKENDS.register("edit", Backend(_cls(".models.edit_models_joint", "EditModelConfig"),  # DiffusER: tagger + generator in one module
                                  _cls(".models.edit_models_joint", "EditTrainingConfig"), _build_edit))
BACKENDS.register("edit-ar-generator", Backend(  # DiffusER's autoregressive span generator alone (measured, not default)
    _cls(".models.edit_ar_generator", "EditARGeneratorConfig"), _cls(".models.edit_models_joint", "EditTrainingConfig"),
    _build_edit_ar_generator))


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
    backend = BACKENDS.get(cfg.backend)  # unknown names raise, listing the registered backends
    model_config = backend.model_config()
    if "vocab_size" in cfg.model:
        allowed = sorted({f.name for f in dataclasses.fields(model_config)} - {"vocab_size"})
        raise ConfigError("model.vocab_size is set by the tokenizer", f"remove it; allowed: {allowed}")
    if backend.diffusion_config is None and "diffusion" in raw:
        raise ConfigError(f"{p.name}: backend {cfg.backend!r} has no [diffusion] table", "remove it")
    _ = from_dict(model_config, {"vocab_size": 6, **cfg.model}, where=f"{p.name}:model")
    _diffusion_config(cfg, p.name)
    return cfg


def _diffusion_config(cfg: RunConfig, where: str = "config") -> Any:
    factory = BACKENDS.get(cfg.backend).diffusion_config
    return None if factory is None else from_dict(factory(), dict(cfg.diffusion), where=f"{where}:diffusion")


def build_run(cfg: RunConfig) -> Trainer:
    """Everything up to the first step: deterministic given the config."""
    examples = read_e2e_csv(cfg.data.train, parse_mrs=False)
    texts = [e.ref for e in examples]
    out = Path(cfg.output_dir)
    tok = Tokenizer.train(texts, cfg.data.min_count)
    backend = BACKENDS.get(cfg.backend)
    mcfg = from_dict(backend.model_config(), {"vocab_size": len(tok), **cfg.model}, "model")
    dcfg = _diffusion_config(cfg)
    data = encode_corpus(texts, tok, mcfg.seq_len)
    extra: dict[str, Any] = {
        "data": {"train_file": Path(cfg.data.train).name, "fingerprint": file_fingerprint(cfg.data.train),
                 "rows": len(texts), "rows_used": int(data.shape[0]), "min_count": cfg.data.min_count}}
    torch.manual_seed(cfg.training.seed)
    model, objective = backend.build(mcfg, dcfg, tok)
    if dcfg is not None:
        extra["diffusion"] = to_dict(dcfg)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("%s model: %.2fM parameters, vocabulary %d, %d training rows", cfg.backend, n_params / 1e6, len(tok),
             data.shape[0])
    return Trainer(model, tok, data, objective, cfg.training, out, extra)


def train_from_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None, resume: bool = True) -> Path:
    return build_run(load_run_config(path, overrides)).train(resume=resume)
