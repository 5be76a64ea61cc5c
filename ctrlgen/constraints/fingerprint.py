"""Which model a classifier belongs to: :class:`ModelFingerprint` (checked when a classifier is loaded)
and :class:`ModelContext` (what a constraint is prepared for: model, diffusion, checkpoint path, tokenizer).

A classifier reads one model's frozen word embeddings, so it is only valid for that model: same vocabulary
size, ``seq_len``, embedding size ``d``, noise schedule and T, and the same embedding table (hashed). A
mismatch raises :class:`~ctrlgen.errors.CheckpointError` naming every differing field.

**Where a model's classifiers live** (:attr:`ModelContext.classifier_dirs`, searched in this order):

1. the *user location* :func:`classifier_home` ``(model)``: ``<home>/classifiers/<key>/<kind>/``, where
   ``<home>`` is :func:`user_home` (``$CTRLGEN_HOME``, else ``$XDG_CACHE_HOME/ctrlgen``, else
   ``~/.cache/ctrlgen``) and ``<key>`` is the bundled model's name (``e2e``) or, for a checkpoint
   directory, its folder name plus a digest of its absolute path (``my-model-3f2a9c1d0b7e``);
2. *beside the model*: ``<model dir>/classifiers/<kind>/`` (the bundled classifiers, or a user's own).

Nothing is ever written inside the installed package (:func:`in_package`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ctrlgen.errors import CheckpointError

#: The environment variable naming ctrlgen's per-user folder (trained classifiers go under ``classifiers/``).
HOME_ENV = "CTRLGEN_HOME"
_RETRAIN = "retrain it for this model: ctrlgen train-classifier KIND --model DIR (or fit_classifier in Python)"


# ------------------------------------------------------------------------------------- fingerprint
@dataclass(frozen=True)
class ModelFingerprint:
    """What a classifier must agree on with the model it guides. ``None``: does not apply (a token-space
    model has no ``embed_dim``) or not recorded; such fields are not compared."""

    vocab_size: int
    seq_len: int
    embed_dim: int | None = None
    schedule: str | None = None  # noise schedule name ("sqrt", ...)
    diffusion_steps: int | None = None  # training T
    embeddings: str | None = None  # sha256 (16 hex) of the float32 embedding table: same shape, other model

    @classmethod
    def of(cls, model: nn.Module, diffusion: Any = None) -> ModelFingerprint:
        """The fingerprint of a loaded model (``model.config``, ``model.embedding``) and its diffusion."""
        cfg = model.config
        emb = getattr(model, "embedding", None)
        digest = None
        if isinstance(emb, nn.Embedding):
            data = emb.weight.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
            digest = hashlib.sha256(data).hexdigest()[:16]
        dcfg = getattr(diffusion, "config", None)
        return cls(vocab_size=int(cfg.vocab_size), seq_len=int(cfg.seq_len),
                   embed_dim=getattr(cfg, "embed_dim", None), schedule=getattr(dcfg, "schedule", None),
                   diffusion_steps=getattr(dcfg, "steps", None), embeddings=digest)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any, where: str = "fingerprint") -> ModelFingerprint:
        names = {f.name for f in fields(cls)}
        if not isinstance(d, dict) or not {"vocab_size", "seq_len"} <= set(d) or set(d) - names:
            raise CheckpointError(f"{where}: not a model fingerprint: {d!r}",
                                  f"a fingerprint has the keys {', '.join(sorted(names))}")
        return cls(**d)

    def check(self, trained_for: ModelFingerprint, what: str) -> None:
        """Raise :class:`CheckpointError` naming each differing field when ``what`` (a classifier,
        trained for ``trained_for``) does not fit this model."""
        diffs = []
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(trained_for, f.name)
            if mine is not None and theirs is not None and mine != theirs:
                diffs.append(f"{f.name}: classifier {theirs!r}, model {mine!r}")
        if diffs:
            only_emb = len(diffs) == 1 and diffs[0].startswith("embeddings")
            raise CheckpointError(f"{what} was trained for another model ({'; '.join(diffs)})"
                                  + (" — same shapes, but the model's embeddings differ (retrained?)" if only_emb else ""),
                                  _RETRAIN)


@dataclass(frozen=True, eq=False)
class ModelContext:
    """The model a constraint is prepared for: what classifier-backed constraints need to load and check
    their classifier (``path / "classifiers"``) and to encode targets (``tokenizer``, ``seq_len``)."""

    model: nn.Module  # the frozen language model (``config``, ``embed``, ``embedding``)
    diffusion: Any = None  # its training GaussianDiffusion (schedule, T)
    path: Path | None = None  # checkpoint directory; trained classifiers live in ``path / "classifiers"``
    tokenizer: Any = None

    @classmethod
    def of(cls, model: nn.Module, diffusion: Any = None, path: str | os.PathLike | None = None,
           tokenizer: Any = None) -> ModelContext:
        return cls(model, diffusion, Path(path) if path is not None else None, tokenizer)

    @cached_property
    def fingerprint(self) -> ModelFingerprint:
        """What a classifier for this model must match. A token-space model's classifiers read token ids,
        not the model's weights: only the vocabulary size and ``seq_len`` count there."""
        fp = ModelFingerprint.of(self.model, self.diffusion)
        if self.space == "token":
            fp = ModelFingerprint(vocab_size=fp.vocab_size, seq_len=fp.seq_len)
        return fp

    @property
    def space(self) -> str:
        """What the model's classifiers read: ``"token"`` for discrete diffusion (its diffusion has a
        ``graph``), else ``"embedding"`` (latents)."""
        return "token" if hasattr(self.diffusion, "graph") else "embedding"

    @property
    def seq_len(self) -> int:
        return int(self.model.config.seq_len)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def classifier_dir(self) -> Path | None:
        """``<model dir>/classifiers`` (beside the model), or ``None`` without a checkpoint directory."""
        return None if self.path is None else self.path / "classifiers"

    @property
    def classifier_dirs(self) -> list[tuple[str, Path]]:
        """The folders holding this model's classifiers, in lookup order, each with where it is: the user
        location (:func:`classifier_home`), then beside the model. Empty without a checkpoint directory."""
        if self.path is None:
            return []
        return [("user location", classifier_home(self.path)), ("beside the model", self.path / "classifiers")]


# ---------------------------------------------------------------------------------------- locations
def user_home() -> Path:
    """ctrlgen's per-user folder: ``$CTRLGEN_HOME``, else ``$XDG_CACHE_HOME/ctrlgen``, else
    ``~/.cache/ctrlgen`` (not created here)."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "ctrlgen"
    return Path.home() / ".cache" / "ctrlgen"


def package_root() -> Path:
    """The installed ``ctrlgen`` package's folder (read-only by contract: nothing writes below it)."""
    return Path(str(resources.files("ctrlgen"))).resolve()


def in_package(path: str | os.PathLike) -> bool:
    """Whether ``path`` (existing or not; symlinks resolved) lies inside the installed package."""
    return Path(path).resolve().is_relative_to(package_root())


def bundled_name(model_path: str | os.PathLike) -> str | None:
    """The bundled model's name when ``model_path`` is a folder of ``ctrlgen/assets``, else ``None``."""
    try:
        rel = Path(model_path).resolve().relative_to(package_root() / "assets")
    except ValueError:
        return None
    return rel.parts[0] if rel.parts else None


def model_key(model_path: str | os.PathLike) -> str:
    """The folder name of a model's classifiers under the user location: a bundled model's name, else the
    checkpoint folder's name and a digest of its absolute path (two folders of one name stay apart)."""
    name = bundled_name(model_path)
    if name is not None:
        return name
    resolved = Path(model_path).resolve()
    return f"{resolved.name}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:12]}"


def classifier_home(model_path: str | os.PathLike) -> Path:
    """The user location of a model's classifiers: ``user_home() / "classifiers" / model_key(model_path)``;
    ``ctrlgen train-classifier`` writes a bundled model's classifiers to ``classifier_home(...) / <kind>``."""
    return user_home() / "classifiers" / model_key(model_path)
