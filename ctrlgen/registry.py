"""Named registries whose lookup errors list what exists, and the one registry of backends (:data:`BACKENDS`).

A floor module: it imports nothing of ctrlgen but ``errors``, so every layer may use it. Bundled models,
classifiers and samplers register by name; each backend declares itself once as a :class:`BackendSpec`.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from ctrlgen.errors import CtrlgenError

V = TypeVar("V")


class RegistryError(CtrlgenError, KeyError):
    """A name is not in a registry."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return CtrlgenError.__str__(self)


class Registry(Generic[V]):
    """Names → values. ``builtin`` names modules that register more entries when imported; they are imported on
    the first lookup (never at construction), so a registry can list entries defined *above* its own module
    without an upward import — the plug-in pattern, like entry points."""

    def __init__(self, kind: str, builtin: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.builtin = builtin  # modules imported on first lookup; each registers its entries
        self._items: dict[str, V] = {}
        self._loaded = not builtin

    def register(self, name: str, value: V | None = None, *, overwrite: bool = False) -> Callable[[V], V] | V:
        """``registry.register("name", obj)`` or as a decorator ``@registry.register("name")``."""
        def add(v: V) -> V:
            if name in self._items and not overwrite:
                raise CtrlgenError(f"{self.kind} {name!r} is already registered", "pick another name or pass overwrite=True")
            self._items[name] = v
            return v

        return add if value is None else add(value)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register a throwaway entry clean up with this)."""
        self._items.pop(name, None)

    def _load(self) -> None:
        """Import the ``builtin`` modules once (they register themselves)."""
        if self._loaded:
            return
        self._loaded = True
        for module in self.builtin:
            importlib.import_module(module)

    def get(self, name: str) -> V:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._items, n=1)
            raise RegistryError(f"unknown {self.kind} {name!r}",
                                (f"did you mean {close[0]!r}? " if close else "")
                                + f"available: {', '.join(sorted(self._items)) or '(none)'}") from None

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(sorted(self._items))


# ------------------------------------------------------------------------------------------- backends
#: The constraint faces (DESIGN.md, "The constraint language"); ``ctrlgen.constraints`` re-exports them.
HARD = "hard"
SOFT_EMBEDDING = "soft:embedding"  # −log p(c | x_t, t) on latents Tensor[B, L, d]
SOFT_TOKEN = "soft:token"  # −log p(c | probs, t) on token probabilities Tensor[B, L, V]
CHECK = "check"
SOFT_FACES: frozenset[str] = frozenset({SOFT_EMBEDDING, SOFT_TOKEN})
FACES: frozenset[str] = frozenset({HARD, CHECK}) | SOFT_FACES
#: The operations of the generator contract (``ctrlgen.core.contract.Generator``).
OPERATIONS: frozenset[str] = frozenset({"generate", "infill", "edit"})


@dataclass(frozen=True)
class BackendSpec:
    """Everything ctrlgen knows about one backend, declared once in the backend's own ``__init__.py``.

    Every other list (``ctrlgen.load``, ``ctrlgen train``, the CLI's ``--backend`` and flags, the constraint
    faces a backend steers with) reads from here. References to code are ``"module:attribute"`` strings,
    imported on first use, so that looking a backend up (``ctrlgen --help``) imports no torch.
    """

    name: str  # ``--backend NAME``
    faces: frozenset[str]  # constraint faces that steer this backend's generation
    description: str = ""  # one line for ``--help``
    generator: str = ""  # "module:Class" with ``from_pretrained(path)``; the class implements the contract
    model_types: tuple[str, ...] = ()  # config.json ``model_type`` values this generator loads
    default_model: str = ""  # the bundled model ``--backend NAME`` uses without ``--model``
    default_steps: int = 100  # denoising / revision steps when the caller gives none (API and CLI alike)
    operations: frozenset[str] = OPERATIONS  # the contract's operations it serves (others raise, naming who can)
    guidance: str = ""  # what ``guidance_scale`` means on this backend (documented in ``--help``)
    models: Mapping[str, str] = field(default_factory=dict)  # every network it saves: model_type → "module:Class"
    training: Mapping[str, str] = field(default_factory=dict)  # ``ctrlgen train`` backend name → "module:Builder"
    cli: str = ""  # "module:FLAGS" — a ``BackendFlags`` object: extra CLI flags and how they become options

    def __post_init__(self) -> None:
        unknown = set(self.faces) - FACES
        if unknown:
            raise CtrlgenError(f"backend {self.name!r} declares unknown faces {sorted(unknown)}",
                               f"faces are {', '.join(sorted(FACES))}")
        if set(self.operations) - OPERATIONS:
            raise CtrlgenError(f"backend {self.name!r} declares unknown operations "
                               f"{sorted(set(self.operations) - OPERATIONS)}", f"use {sorted(OPERATIONS)}")

    def with_faces(self, *faces: str) -> BackendSpec:
        """A copy that also uses ``faces`` (e.g. ``CHECK`` for a pipeline that reranks samples)."""
        unknown = set(faces) - FACES
        if unknown:
            raise CtrlgenError(f"unknown faces {sorted(unknown)}", f"faces are {', '.join(sorted(FACES))}")
        return replace(self, faces=self.faces | frozenset(faces))


def resolve(ref: str) -> Any:
    """``"package.module:attribute"`` → the attribute (imports the module)."""
    module, _, attr = ref.partition(":")
    if not attr:
        raise CtrlgenError(f"bad reference {ref!r}", "write 'package.module:attribute'")
    return getattr(importlib.import_module(module), attr)


class BackendRegistry(Registry[BackendSpec]):
    """The one registry of backends. The built-in backends register themselves when their package is imported;
    the registry imports those packages on first lookup (they hold only their :class:`BackendSpec`), and
    finds third-party backends through the ``ctrlgen.backends`` entry-point group (a value
    ``"pkg.module:SPEC"``). A test may ``register`` a backend in-process."""

    def __init__(self) -> None:
        super().__init__("backend", builtin=("ctrlgen.backends.embedding", "ctrlgen.backends.discrete",
                                             "ctrlgen.backends.edit", "ctrlgen.backends.masked"))

    def _load(self) -> None:
        if self._loaded:
            return
        super()._load()
        from importlib.metadata import (
            entry_points,  # lazy: start-up speed (scans installed distributions)
        )

        for ep in entry_points(group="ctrlgen.backends"):
            spec = ep.load()
            if spec.name not in self._items:
                self.register(spec.name, spec)

    def for_model_type(self, model_type: str) -> BackendSpec | None:
        """The backend whose generator loads checkpoints of ``model_type`` (None: no generator does)."""
        self._load()
        return next((s for s in self._items.values() if model_type in s.model_types), None)

    def serving(self, operation: str) -> list[str]:
        """Names of the backends that serve ``operation`` (for the hint of an unsupported call)."""
        return [n for n in self if operation in self.get(n).operations]


BACKENDS = BackendRegistry()
