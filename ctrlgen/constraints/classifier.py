"""Classifier-backed constraints: the soft face is ``−log p(target | x_t, t)`` of a noise-aware classifier.

:class:`ClassifierBacked` is the shared base of :class:`~.semantic.SemanticField`, :class:`~.pos.POS`,
:class:`~.syntax.SyntaxTree`, :class:`~.syntax.SyntaxSpans` and the generic :class:`Classifier` (a
user's plug-in by registered name, a saved directory, or an instance):

```python
import ctrlgen
gen = ctrlgen.load("e2e")
out = gen.generate(n=8, constraints=ctrlgen.Classifier("my-name.v1", target=1, weight=2.0))
```

**Binding.** A classifier belongs to one model, so the soft face is compiled only once the model is
known: :func:`~ctrlgen.constraints.prepare` with ``model=ModelContext(...)`` (what every generator does)
calls :meth:`ClassifierBacked.bind`, which finds the classifier — a registered name is looked up among
the model's saved classifiers (:func:`saved_classifiers`: first the user location
``<ctrlgen home>/classifiers/<model>/*/``, then beside the model, ``<model dir>/classifiers/*/``) — checks
its fingerprint against the model (:class:`~ctrlgen.errors.CheckpointError` naming the field), and encodes
the target (:class:`~.base.ConstraintError` on bad input). All of it happens before sampling starts. Loaded
classifiers are cached per directory and modification time.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ctrlgen.constraints.base import (
    Backend,
    Constraint,
    ConstraintError,
    SoftFn,
    as_texts,
)
from ctrlgen.constraints.fingerprint import ModelContext
from ctrlgen.constraints.plugin import (
    CLASSIFIERS,
    CONFIG_FILE,
    NoiseAwareClassifier,
    read_classifier_config,
    targets_to,
)
from ctrlgen.errors import CheckpointError, ConfigError
from ctrlgen.registry import CHECK, SOFT_EMBEDDING, SOFT_TOKEN
from ctrlgen.text.tokenizer import Tokenizer

logger = logging.getLogger(__name__)
ClassifierRef = str | os.PathLike | NoiseAwareClassifier
_SPACE_FACE = {"embedding": SOFT_EMBEDDING, "token": SOFT_TOKEN}
_CACHE: dict[tuple[str, int, int], NoiseAwareClassifier] = {}


def _as_dir(ref: ClassifierRef) -> Path | None:
    """``ref`` as a classifier directory, when it names one (a path, or a string with a separator)."""
    if isinstance(ref, NoiseAwareClassifier):
        return None
    if isinstance(ref, os.PathLike) or (isinstance(ref, str) and (os.sep in ref or Path(ref).is_dir())):
        return Path(ref)
    return None


def classifier_space(ref: ClassifierRef) -> str:
    """The space (``"embedding"`` / ``"token"``) a classifier reference reads; unknown names raise the
    registry's error (it lists the available names)."""
    if isinstance(ref, NoiseAwareClassifier):
        return ref.space
    path = _as_dir(ref)
    if path is not None:
        return str(read_classifier_config(path).get("space", "embedding"))
    if not isinstance(ref, str):
        raise ConfigError(f"cannot use {type(ref).__name__} {ref!r} as a classifier",
                          "pass a registered name ('semantic.v1'), a saved directory, or a NoiseAwareClassifier")
    return CLASSIFIERS.get(ref).space


def saved_classifiers(name: str, context: ModelContext) -> list[tuple[Path, str]]:
    """Every saved ``name`` classifier of ``context``'s model, in lookup order, each with where it was found:

    1. the user location, ``classifier_home(model) / <kind>`` (``$CTRLGEN_HOME``, else
       ``$XDG_CACHE_HOME/ctrlgen``, else ``~/.cache/ctrlgen``; then ``classifiers/<model key>/``), where
       ``ctrlgen train-classifier`` writes a bundled model's classifiers;
    2. beside the model, ``<model dir>/classifiers/<kind>`` (the bundled classifiers, or a user's own).

    Within a folder, sub-folders are taken in name order; a sub-folder without a valid ``config.json`` is
    skipped."""
    found = []
    for where, root in context.classifier_dirs:
        try:
            subs = sorted(p for p in root.iterdir() if (p / CONFIG_FILE).is_file()) if root.is_dir() else []
        except OSError as e:  # an unreadable folder hides nothing else
            logger.warning("cannot read the classifiers at %s (%s): %s", root, where, e)
            continue
        for sub in subs:
            try:
                if read_classifier_config(sub)["classifier"] == name:
                    found.append((sub, where))
            except CheckpointError:
                continue
    return found


def _not_found(name: str, context: ModelContext) -> CheckpointError:
    where = " or ".join(str(root) for _, root in context.classifier_dirs) or "(the model has no checkpoint directory)"
    base = name.split(".")[0].removesuffix("-token")  # a discrete model's classifier has the same kind
    kind = {"syntax": "tree"}.get(base, base)  # the train-classifier kind
    return CheckpointError(f"no trained {name!r} classifier for the model in {where}",
                           f"train one: ctrlgen train-classifier {kind} --model MODEL (a bundled model's go to the "
                           "user location, a checkpoint directory's beside it), or pass classifier=<a saved "
                           "directory or a NoiseAwareClassifier>")


def find_saved(name: str, context: ModelContext) -> Path:
    """The directory of the first saved ``name`` classifier of ``context``'s model in the lookup order of
    :func:`saved_classifiers` (user location, then beside the model)."""
    found = saved_classifiers(name, context)
    if not found:
        raise _not_found(name, context)
    return found[0][0]


def _load_saved(name: str, context: ModelContext) -> NoiseAwareClassifier:
    """The first saved ``name`` classifier that fits the model, in lookup order; logs (INFO) which one. One
    trained for another model (say, a user-location copy from before the bundled model changed) is
    skipped with a warning when a later one fits; when none fits, the first one's error is raised."""
    found = saved_classifiers(name, context)
    if not found:
        raise _not_found(name, context)
    first_error: CheckpointError | None = None
    for path, where in found:
        try:
            clf = load_cached(path, context)
        except CheckpointError as e:
            first_error = first_error or e
            logger.warning("skipping the %s classifier at %s (%s): %s", name, path, where, e.message)
            continue
        logger.info("classifier %s: %s (%s)", name, path, where)
        return clf
    assert first_error is not None
    raise first_error


def load_cached(path: Path, context: ModelContext) -> NoiseAwareClassifier:
    """Load (once per directory and modification times of its files) and check the fingerprint against
    ``context``."""
    stamps = tuple(f.stat().st_mtime_ns if f.exists() else 0 for f in (path / "model.safetensors", path / CONFIG_FILE))
    key = (str(path.resolve()), *stamps)
    clf = _CACHE.get(key)
    if clf is None:
        clf = NoiseAwareClassifier.from_pretrained(path)
        if len(_CACHE) >= 16:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = clf
    if clf.fingerprint is not None:
        context.fingerprint.check(clf.fingerprint, f"classifier {path}")
    return clf


def resolve_classifier(ref: ClassifierRef, context: ModelContext) -> NoiseAwareClassifier:
    """A ready classifier for ``context``'s model: an instance as is (its fingerprint checked when it
    has one), a directory loaded, a registered name found among the model's saved classifiers (the user
    location first, then beside the model: :func:`saved_classifiers`). Frozen and in eval mode."""
    if isinstance(ref, NoiseAwareClassifier):
        if ref.fingerprint is not None:
            context.fingerprint.check(ref.fingerprint, f"classifier {type(ref).__name__}")
        clf = ref
    else:
        path = _as_dir(ref)
        if path is None:
            classifier_space(ref)  # unknown name → error listing the registered ones
            clf = _load_saved(str(ref), context)
        else:
            clf = load_cached(path, context)
    clf.eval().requires_grad_(False)
    return clf.to(context.device)


class ClassifierSoft:
    """The soft face of a bound classifier: ``soft(x, t)`` = −log p(target | x, t), ``x: Tensor[B, L, d]`` (or
    ``[B, L, V]``), ``t: Tensor[B]`` → ``Tensor[B]``.

    Optional fast path for token-space classifiers that provide ``token_embedding() -> Tensor[V, E]`` and
    ``log_prob_embedded(e, t, target)`` (with ``log_prob(onehot) == log_prob_embedded(onehot @ table)``):
    :attr:`embedding` is then that table's getter and :meth:`embedded` scores embedded inputs, so discrete
    guidance indexes the table by token id instead of building one-hot tensors
    (``ctrlgen.backends.discrete.guidance``). Without them :attr:`embedding` is ``None`` and guidance feeds
    one-hot inputs as before."""

    def __init__(self, clf: NoiseAwareClassifier, encoded: Any) -> None:
        self.clf, self.encoded = clf, encoded
        fast = clf.space == "token" and callable(getattr(clf, "token_embedding", None)) \
            and callable(getattr(clf, "log_prob_embedded", None))
        self.embedding: Callable[[], Any] | None = clf.token_embedding if fast else None  # type: ignore[attr-defined]

    def __call__(self, x: Any, t: Any) -> Any:
        """``x: Tensor[B, L, d | V]``, ``t: Tensor[B]`` → −log p(target | x, t): ``Tensor[B]``."""
        return -self.clf.log_prob(x, t, targets_to(self.encoded, x.device))

    def embedded(self, e: Any, t: Any) -> Any:
        """``e: Tensor[B, L, E]`` (rows of ``embedding()``), ``t: Tensor[B]`` → −log p(target | e, t): ``Tensor[B]``."""
        return -self.clf.log_prob_embedded(e, t, targets_to(self.encoded, e.device))  # type: ignore[attr-defined]


class ClassifierBacked(Constraint):
    """Base of constraints whose soft face is a classifier. Subclasses give :attr:`default_classifiers`,
    :meth:`classifier_target` and, optionally, :meth:`validate` (a check against ``seq_len``).

    Faces: the check face, plus the soft face of the given classifier's space — or, with no ``classifier``
    given, of every space that has a default (e.g. ``SemanticField``: ``semantic.v1`` on latents for the
    embedding backend, ``semantic-token.v1`` on tokens for the discrete one)."""

    default_classifiers: ClassVar[dict[str, str]] = {}  # space → registered name, found by saved_classifiers
    _bound: tuple[NoiseAwareClassifier, Any] | None = None

    @property
    def default_classifier(self) -> str:
        """The embedding-space default (the first one listed)."""
        return next(iter(self.default_classifiers.values()), "")

    def classifier_ref(self, space: str | None = None) -> ClassifierRef:
        """The classifier given, else the default for ``space`` (default: the first one listed)."""
        given = getattr(self, "classifier", None)
        if given:
            return given
        if space is None:
            return self.default_classifier
        if space not in self.default_classifiers:
            raise ConstraintError(f"{self!r} has no default {space}-space classifier (only "
                                  f"{', '.join(self.default_classifiers) or 'none'})",
                                  f"pass classifier=<a {space}-space classifier>, or use a backend that reads "
                                  f"{' or '.join(self.default_classifiers)}")
        return self.default_classifiers[space]

    @property
    def faces(self) -> frozenset[str]:
        given = getattr(self, "classifier", None)
        spaces = [classifier_space(given)] if given else list(self.default_classifiers)
        return frozenset({CHECK, *(_SPACE_FACE[s] for s in spaces)})

    def classifier_target(self) -> Any:
        """The target handed to the classifier's ``encode_target``."""
        raise NotImplementedError

    def validate(self, seq_len: int) -> None:
        """Raise :class:`ConstraintError` when the constraint cannot fit ``seq_len`` positions."""

    def bind(self, context: ModelContext) -> Constraint:
        """A copy holding the classifier for ``context``'s model and the encoded target."""
        self.validate(context.seq_len)
        clf = resolve_classifier(self.classifier_ref(context.space), context)
        encoded = clf.encode_target(self.classifier_target(), context.tokenizer, context.seq_len)
        bound = copy.copy(self)
        object.__setattr__(bound, "_bound", (clf, targets_to(encoded, context.device)))
        return bound

    @property
    def classifier_module(self) -> NoiseAwareClassifier | None:
        """The bound classifier (after :meth:`bind`), else ``None``."""
        return None if self._bound is None else self._bound[0]

    def soft(self, tokenizer: Tokenizer, seq_len: int, backend: Backend) -> SoftFn:
        self.validate(seq_len)
        if self._bound is None:
            raise ConstraintError(f"{self!r} needs the model its classifier was trained for",
                                  "generate through a loaded model (ctrlgen.load(...).generate(constraints=...)), "
                                  "or prepare(..., model=ModelContext.of(model, diffusion, path, tokenizer))")
        clf, encoded = self._bound
        return ClassifierSoft(clf, encoded)


class Classifier(ClassifierBacked):
    """A plug-in classifier as a constraint: ``Classifier(model, target, weight=1.0, check=None)``.

    ``model``: a registered name (``"my-name.v1"``: the generating model's saved classifier of that name,
    from the user location or beside the model, is used), a directory written by ``save_pretrained``, or a
    :class:`~ctrlgen.NoiseAwareClassifier` instance. ``target``: whatever that classifier's
    ``encode_target`` accepts. ``weight`` scales its guidance loss (as ``weight * constraint``).
    ``check``: an optional oracle ``texts -> list[bool]`` giving the constraint a check face.
    """

    def __init__(self, model: ClassifierRef, target: Any, weight: float = 1.0, *,
                 check: Callable[[Sequence[str]], Sequence[bool]] | None = None) -> None:
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight >= 0:
            raise ConfigError(f"Classifier weight must be a number >= 0, got {weight!r}", "0 switches guidance off")
        self.classifier, self.target, self.weight, self.check = model, target, float(weight), check
        self._space = classifier_space(model)  # unknown names fail here, listing the registered ones

    @property
    def faces(self) -> frozenset[str]:
        return frozenset({_SPACE_FACE[self._space]} | ({CHECK} if self.check is not None else set()))

    def classifier_ref(self, space: str | None = None) -> ClassifierRef:
        return self.classifier

    def classifier_target(self) -> Any:
        return self.target

    def leaves(self) -> Iterator[tuple[float, Constraint]]:
        yield self.weight, self

    def satisfied(self, texts: Sequence[str]) -> list[bool]:
        if self.check is None:
            return super().satisfied(texts)
        return [bool(s) for s in self.check(as_texts(texts))]

    def __repr__(self) -> str:
        name = self.classifier if isinstance(self.classifier, str) else type(self.classifier).__name__
        w = f", weight={self.weight:g}" if self.weight != 1.0 else ""
        return f"Classifier({str(name)!r}, {self.target!r}{w})"
