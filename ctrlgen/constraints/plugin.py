"""The plug-in classifier contract: noise-aware classifiers, the model they were trained for, a registry.

A classifier steers generation through a constraint's *soft face*: guidance minimises
``−log p(c | x_t, t)`` on the latents. The contract (DESIGN.md, "Plug-in classifier contract"):

```python
from ctrlgen import NoiseAwareClassifier, register_classifier

@register_classifier("my-name.v1")
class Mine(NoiseAwareClassifier):
    space = "embedding"                       # reads latents x_t: Tensor[B, L, d]
    def __init__(self, *, embed_dim: int):    # keyword hyperparameters, JSON-serialisable
        super().__init__(embed_dim=embed_dim)  # ... recorded for save/load
        self.head = torch.nn.Linear(embed_dim, 2)
    def log_prob(self, x, t, target):         # -> Tensor[B]; target as encode_target made it
        return self.head(x.mean(1)).log_softmax(-1)[:, target]
```

* **Space.** ``"embedding"``: ``x: Tensor[B, L, d]`` noisy latents of embedding diffusion; ``"token"``:
  ``x: Tensor[B, L, V]`` token probabilities of discrete diffusion. ``t: Tensor[B]`` is the *training
  schedule* index (0..T−1) the language model was conditioned on at that step; 0 also stands for clean
  input. A classifier is *noise-aware*: it was trained on q(x_t | x0) over the decoding schedule.
* **Targets.** :meth:`NoiseAwareClassifier.encode_target` turns a user's target (a field and value, a
  tag list, a tree) into tensors once, before sampling, and raises :class:`ConstraintError` with a hint
  on bad input; ``log_prob`` then gets it batched as ``Tensor[B | 1, ...]``. Training minimises
  ``−log_prob`` with per-example targets (:func:`ctrlgen.fit_classifier`), so one method serves both.
* **Model fingerprint.** A classifier reads one model's frozen embeddings: it is saved with that
  model's :class:`ModelFingerprint` (vocabulary size, ``seq_len``, ``d``, schedule, T, a hash of the
  embedding table) and loading it for another model raises :class:`CheckpointError` naming the field.
* **Optional fast path** (token space). ``token_embedding() -> Tensor[V, E]`` and ``log_prob_embedded(e, t,
  target)`` with ``log_prob(onehot, ...) == log_prob_embedded(onehot @ token_embedding(), ...)``: discrete
  guidance then indexes the table by token id instead of building one-hot inputs (``semantic-token.v1`` has
  both; a classifier without them keeps working through ``log_prob``).
* **Registry.** :data:`CLASSIFIERS` maps names to classes; ``register_classifier("name")`` adds one, and
  the built-ins arrive through the ``ctrlgen.classifiers`` entry-point group (``pyproject.toml``), loaded
  on first lookup — the core never imports them by name.

Saved classifiers (``config.json`` + ``model.safetensors``) are found in the user location,
``<ctrlgen home>/classifiers/<model>/<kind>/``, then beside their model, ``<model dir>/classifiers/<kind>/``
(:class:`ModelContext` ``.classifier_dirs``; ``ctrlgen.constraints.fingerprint`` documents the order).
:meth:`NoiseAwareClassifier.save_pretrained` refuses a directory inside the installed package.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import distributions
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ctrlgen.constraints.fingerprint import (
    ModelContext,
    ModelFingerprint,
    classifier_home,
    in_package,
)
from ctrlgen.errors import CheckpointError, ConfigError, CtrlgenError
from ctrlgen.registry import Registry, RegistryError
from ctrlgen.version import __version__

CLASSIFIER_FORMAT = "ctrlgen.classifier.v1"
ENTRY_POINT_GROUP = "ctrlgen.classifiers"
SPACES: tuple[str, ...] = ("embedding", "token")
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"


# -------------------------------------------------------------------------------------- classifier
@dataclass
class ClassifierData:
    """Training examples: ``ids: Tensor[N, L]`` word ids (the clean text) and ``targets``, the classifier's
    encoded targets with a leading ``N`` dimension (a tensor or a tuple of tensors)."""

    ids: Tensor
    targets: Tensor | tuple[Tensor, ...]

    def __post_init__(self) -> None:
        parts = self.targets if isinstance(self.targets, tuple) else (self.targets,)
        if self.ids.dim() != 2 or any(p.shape[0] != self.ids.shape[0] for p in parts):
            raise ConfigError(f"ClassifierData needs ids [N, L] and targets with N = {self.ids.shape[0]} rows, "
                              f"got ids {tuple(self.ids.shape)}, targets {[tuple(p.shape) for p in parts]}",
                              "one target row per text")

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def take(self, index: Tensor | slice) -> ClassifierData:
        return ClassifierData(self.ids[index], index_targets(self.targets, index))


def index_targets(targets: Any, index: Tensor | slice) -> Any:
    """Row selection on a tensor, a tuple of tensors, or anything else (returned unchanged)."""
    if isinstance(targets, Tensor):
        return targets[index]
    if isinstance(targets, tuple):
        return tuple(index_targets(t, index) for t in targets)
    return targets


def targets_to(targets: Any, device: torch.device) -> Any:
    """Move an encoded target (tensor, tuple of tensors, or other) to ``device``."""
    if isinstance(targets, Tensor):
        return targets.to(device)
    if isinstance(targets, tuple):
        return tuple(targets_to(t, device) for t in targets)
    return targets


class NoiseAwareClassifier(nn.Module):
    """Base class of plug-in classifiers (see the module doc). Subclasses set :attr:`space`, take
    keyword hyperparameters passed on to ``super().__init__(**hparams)`` and implement :meth:`log_prob`."""

    space: ClassVar[str] = "embedding"  # "embedding" (latents Tensor[B, L, d]) or "token" (Tensor[B, L, V])
    classifier_name: ClassVar[str] = ""  # set by register_classifier

    def __init__(self, **hparams: Any) -> None:
        super().__init__()
        self.hparams: dict[str, Any] = dict(hparams)
        self.fingerprint: ModelFingerprint | None = None  # the model it was trained for (set by fit/load)
        self.training_info: dict[str, Any] = {}  # steps, seed, accuracy... saved in config.json

    def log_prob(self, x: Tensor, t: Tensor, target: Any) -> Tensor:
        """``log p(target | x, t)``: ``x: Tensor[B, L, d]`` (or ``[B, L, V]``), ``t: Tensor[B]`` → ``Tensor[B]``,
        differentiable in ``x``. ``target`` is what :meth:`encode_target` returned, batched ``[B | 1, ...]``."""
        raise NotImplementedError(f"{type(self).__name__} must implement log_prob(x, t, target)")

    def encode_target(self, target: Any, tokenizer: Any, seq_len: int) -> Any:
        """A user's target → what ``log_prob`` reads (tensors with a leading batch dim of 1). Raise
        :class:`~ctrlgen.constraints.ConstraintError` with a hint on bad input. Default: unchanged."""
        return target

    def metrics(self, x: Tensor, t: Tensor, target: Any) -> dict[str, Tensor]:
        """Optional per-example evaluation metrics (e.g. accuracy), each ``Tensor[B]``."""
        return {}

    @classmethod
    def create(cls, examples: Sequence[Any], context: ModelContext, **options: Any) -> NoiseAwareClassifier:
        """Optional recipe for ``ctrlgen train-classifier``: a fresh classifier for ``context``'s model, its
        label vocabulary read from E2E ``examples`` (``.mr`` dict, ``.ref`` text); ``options``: sizes."""
        raise CtrlgenError(f"classifier {cls.classifier_name or cls.__name__!r} has no built-in training recipe",
                           "train it in Python with ctrlgen.fit_classifier(classifier, generator, data)")

    def make_data(self, examples: Sequence[Any], context: ModelContext) -> ClassifierData:
        """Optional recipe: training or validation data from E2E ``examples`` (targets this classifier
        does not know become "ignore" entries)."""
        raise CtrlgenError(f"classifier {self.classifier_name or type(self).__name__!r} cannot build data from "
                           "E2E examples", "build a ClassifierData(ids, targets) yourself")

    # ------------------------------------------------------------------------------- save / load
    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` (name, hyperparameters, fingerprint) and ``model.safetensors``, atomically.
        A directory inside the installed package is refused (:class:`ConfigError`): save to the user
        location, ``classifier_home(model dir) / <kind>``, which the lookup searches first."""
        target = Path(directory)
        if in_package(target):
            raise package_write_error(target)
        name = type(self).classifier_name
        if not name or name not in CLASSIFIERS:
            raise ConfigError(f"{type(self).__name__} is not registered, so it could not be loaded back",
                              "decorate the class with @ctrlgen.register_classifier('name.v1')")
        cfg = {"format": CLASSIFIER_FORMAT, "classifier": name, "space": self.space, "ctrlgen_version": __version__,
               "hparams": self.hparams, "fingerprint": self.fingerprint.to_dict() if self.fingerprint else None,
               "training": self.training_info}
        try:
            text = json.dumps(cfg, indent=2, ensure_ascii=False)
        except TypeError as e:
            raise ConfigError(f"{name}: hyperparameters must be JSON-serialisable ({e})",
                              "pass lists, dicts, strings and numbers to super().__init__") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()}, str(tmp / WEIGHTS_FILE))
            (tmp / CONFIG_FILE).write_text(text + "\n")
            for f in (tmp, *tmp.iterdir()):
                os.chmod(f, 0o755 if f.is_dir() else 0o644)
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        return target

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike,
                        expect: ModelFingerprint | ModelContext | None = None) -> NoiseAwareClassifier:
        """Load a saved classifier (its class comes from the registry by the saved name), frozen and in eval
        mode; with ``expect`` (a model's fingerprint or context), check it was trained for that model."""
        path = Path(directory)
        cfg = read_classifier_config(path)
        klass = CLASSIFIERS.get(cfg["classifier"])
        if cls is not NoiseAwareClassifier and not issubclass(klass, cls):
            raise CheckpointError(f"{path} holds a {cfg['classifier']!r} classifier, not a {cls.__name__}")
        fp = ModelFingerprint.from_dict(cfg["fingerprint"], f"{path / CONFIG_FILE}") if cfg.get("fingerprint") else None
        if expect is not None and fp is not None:
            (expect.fingerprint if isinstance(expect, ModelContext) else expect).check(fp, f"classifier {path}")
        try:
            clf = klass(**cfg.get("hparams", {}))
        except TypeError as e:
            raise CheckpointError(f"{path / CONFIG_FILE}: hparams do not fit {klass.__name__} ({e})") from None
        try:
            clf.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
        except (OSError, RuntimeError, ValueError) as e:
            raise CheckpointError(f"{path / WEIGHTS_FILE} does not fit {klass.__name__}: {str(e)[:300]}",
                                  "config.json and weights do not match; re-save the classifier") from None
        clf.fingerprint, clf.training_info = fp, dict(cfg.get("training") or {})
        return clf.eval().requires_grad_(False)  # for guidance: gradients flow to the latents, not the weights


def package_write_error(target: Path) -> ConfigError:
    """The error for a classifier directory inside the installed package (read-only by contract)."""
    model = target.resolve().parent.parent  # <model dir>/classifiers/<kind> → its user location
    return ConfigError(f"{target} is inside the installed ctrlgen package; classifiers are never written there",
                       f"save to the user location {classifier_home(model) / target.name} (searched before the "
                       "bundled classifiers) or any directory outside the package (train-classifier --output); "
                       "to ship a classifier with ctrlgen, copy it into ctrlgen/assets in a source checkout")


def read_classifier_config(path: Path) -> dict[str, Any]:
    """``config.json`` of a saved classifier, checked for the keys loading needs."""
    try:
        cfg = json.loads((path / CONFIG_FILE).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path / CONFIG_FILE} is missing", "pass a directory written by save_pretrained()") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path / CONFIG_FILE} is corrupted: {e}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != CLASSIFIER_FORMAT or "classifier" not in cfg:
        raise CheckpointError(f"{path / CONFIG_FILE} is not a ctrlgen classifier ({CLASSIFIER_FORMAT})",
                              "pass a directory written by NoiseAwareClassifier.save_pretrained()")
    return cfg


def load_classifier(directory: str | os.PathLike,
                    expect: ModelFingerprint | ModelContext | None = None) -> NoiseAwareClassifier:
    """Load any saved classifier (see :meth:`NoiseAwareClassifier.from_pretrained`)."""
    return NoiseAwareClassifier.from_pretrained(directory, expect)


# ---------------------------------------------------------------------------------------- registry
C = TypeVar("C", bound=type[NoiseAwareClassifier])


class ClassifierRegistry(Registry[type[NoiseAwareClassifier]]):
    """Classifier classes by name; entry points of :data:`ENTRY_POINT_GROUP` are loaded on first lookup."""

    def __init__(self) -> None:
        super().__init__("classifier")
        self._entry_points: dict[str, Any] | None = None

    def _pending(self) -> dict[str, Any]:
        if self._entry_points is None:
            # every distribution, not entry_points(group=...): that one keeps only the first metadata of a
            # name, and a stale ``*.egg-info`` in the working directory would hide an installed plug-in
            self._entry_points = {}
            for dist in distributions():
                for ep in dist.entry_points:
                    if ep.group == ENTRY_POINT_GROUP:
                        self._entry_points.setdefault(ep.name, ep)
        return {n: ep for n, ep in self._entry_points.items() if n not in self._items}

    def register(self, name: str, value: Any = None, *, overwrite: bool = False) -> Any:
        def add(klass: C) -> C:
            if not (isinstance(klass, type) and issubclass(klass, NoiseAwareClassifier)):
                raise ConfigError(f"classifier {name!r}: {klass!r} is not a NoiseAwareClassifier subclass",
                                  "subclass ctrlgen.NoiseAwareClassifier and implement log_prob")
            if klass.space not in SPACES:
                raise ConfigError(f"classifier {name!r}: space must be one of {SPACES}, got {klass.space!r}")
            Registry.register(self, name, klass, overwrite=overwrite)
            klass.classifier_name = name
            return klass

        return add if value is None else add(value)

    def get(self, name: str) -> type[NoiseAwareClassifier]:
        pending = self._pending()
        if name in pending:
            ep = pending[name]
            try:
                klass = ep.load()
            except Exception as e:  # a broken plug-in must not hide which one broke
                raise CtrlgenError(f"classifier {name!r}: entry point {ep.value!r} failed to load: {e}",
                                   "reinstall the package that provides it") from e
            self.register(name, klass, overwrite=True)
        if name in self._items:
            return self._items[name]
        names = list(self)
        close = difflib.get_close_matches(name, names, n=1)
        raise RegistryError(f"unknown classifier {name!r}",
                            (f"did you mean {close[0]!r}? " if close else "")
                            + f"available: {', '.join(names) or '(none)'}; register one with "
                            "@ctrlgen.register_classifier('name')")

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._pending()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._items, *self._pending()}))


#: Classifier classes by name (built-ins from entry points, users' through :func:`register_classifier`).
CLASSIFIERS = ClassifierRegistry()


def register_classifier(name: str, *, overwrite: bool = False) -> Callable[[C], C]:
    """Class decorator: ``@register_classifier("my-name.v1")`` makes ``Classifier("my-name.v1", target)``
    and ``load_classifier`` find the class."""
    return CLASSIFIERS.register(name, overwrite=overwrite)
