"""Constraint specs for the command line: ``"name=value"`` or ``"name=value;option=value;…"``.

``length=14``, ``length=14;tolerance=2``, ``infill=The Vaults is a [MASK:3] pub .``,
``prefix=The Vaults``, ``suffix=near the river .;length=12``, ``infill=…;allow_unk=true``;
``contains=city centre`` (several phrases: repeat the flag; options ``max_position=5``, ``min_position=2``,
``allow_unk=true``, ``face=soft``);
classifier-backed: any E2E field ``food=Japanese``, ``customer rating=5 out of 5`` (:class:`SemanticField`),
``pos=PROPN,AUX,DET,NOUN,PUNCT``, ``tree=(S (NP …) (VP …))``, ``span=3:5:PP`` (several: ``span=0:1:NP,3:5:PP``),
each with an optional ``;classifier=DIR`` (a saved classifier instead of the one beside the model); fields also take
``;steer=auto|phrase|classifier`` and ``;allow_unk=true`` (:class:`SemanticField`).
The value itself cannot contain ``;`` (use the Python API for such text). Plug-ins add names with
``@register_constraint("name")`` on a factory ``(value: str, **options: str) -> Constraint``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from ctrlgen.constraints.base import Constraint, ConstraintError
from ctrlgen.constraints.contains import Contains
from ctrlgen.constraints.infill import Infill, Prefix, Suffix
from ctrlgen.constraints.length import Length
from ctrlgen.constraints.pos import POS
from ctrlgen.constraints.semantic import SemanticField
from ctrlgen.constraints.syntax import SyntaxSpans, SyntaxTree
from ctrlgen.errors import ConfigError
from ctrlgen.registry import Registry

ConstraintFactory = Callable[..., Constraint]
CONSTRAINTS: Registry[ConstraintFactory] = Registry("constraint")
_HINT = "a spec looks like 'length=14' or 'suffix=near the river .;length=12'"


def register_constraint(name: str, factory: ConstraintFactory | None = None, *, overwrite: bool = False):  # type: ignore[no-untyped-def]
    """Register a spec name: ``register_constraint("name", factory)`` or as a decorator."""
    return CONSTRAINTS.register(name, factory, overwrite=overwrite)


def parse_constraint(spec: str) -> Constraint:
    """``"name=value[;option=value…]"`` → a constraint, through the registry."""
    name, sep, rest = spec.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"cannot read constraint spec {spec!r}", _HINT)
    value, *opts = rest.split(";")
    options = {}
    for opt in opts:
        key, eq, v = opt.partition("=")
        if not eq or not key.strip().isidentifier():
            raise ConfigError(f"cannot read option {opt!r} of constraint spec {spec!r}", _HINT)
        options[key.strip()] = v.strip()
    factory = CONSTRAINTS.get(name.strip())
    try:
        inspect.signature(factory).bind(value, **options)
    except TypeError as e:
        params = [p for p in inspect.signature(factory).parameters][1:]
        raise ConfigError(f"constraint spec {spec!r}: {e}",
                          f"options of {name.strip()!r}: {', '.join(params) or '(none)'}") from None
    return factory(value.strip(), **options)


def _int(name: str, v: str) -> int:
    try:
        return int(v)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {v!r}", _HINT) from None


def _bool(name: str, v: str) -> bool:
    if v.lower() in ("1", "true", "yes"):
        return True
    if v.lower() in ("0", "false", "no"):
        return False
    raise ConfigError(f"{name} must be true or false, got {v!r}", _HINT)


@register_constraint("length")
def _length(value: str, tolerance: str = "0") -> Constraint:
    return Length(_int("length", value), tolerance=_int("tolerance", tolerance))


@register_constraint("infill")
def _infill(value: str, allow_unk: str = "false") -> Constraint:
    return Infill(value, allow_unk=_bool("allow_unk", allow_unk))


@register_constraint("prefix")
def _prefix(value: str, allow_unk: str = "false") -> Constraint:
    return Prefix(value, allow_unk=_bool("allow_unk", allow_unk))


@register_constraint("suffix")
def _suffix(value: str, length: str, allow_unk: str = "false") -> Constraint:
    return Suffix(value, length=_int("length", length), allow_unk=_bool("allow_unk", allow_unk))


def _position(name: str, v: str) -> int | None:
    return _int(name, v) if v.strip() else None


@register_constraint("contains")
def _contains(value: str, min_position: str = "", max_position: str = "", allow_unk: str = "false",
              face: str = "hard") -> Constraint:
    """``contains=PHRASE``: Contains(PHRASE) — the words occur contiguously somewhere."""
    return Contains(value, min_position=_position("min_position", min_position),
                    max_position=_position("max_position", max_position), allow_unk=_bool("allow_unk", allow_unk),
                    face=face.strip())


def _clf(classifier: str) -> str | None:
    return classifier or None


def _semantic_factory(field: str) -> ConstraintFactory:
    def make(value: str, classifier: str = "", steer: str = "auto", allow_unk: str = "false") -> Constraint:
        if allow_unk.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ConstraintError(f"{field}={value};allow_unk={allow_unk}: allow_unk is true or false",
                                  f"e.g. '{field}={value};allow_unk=true'")
        return SemanticField(field, value, classifier=_clf(classifier), steer=steer,  # type: ignore[arg-type]
                             allow_unk=allow_unk.lower() in ("true", "1", "yes"))

    make.__doc__ = f"``{field}=VALUE``: SemanticField({field!r}, VALUE)"
    return make


for _field in SemanticField.FIELDS:
    register_constraint(_field, _semantic_factory(_field))


@register_constraint("pos")
def _pos(value: str, classifier: str = "") -> Constraint:
    return POS(value, classifier=_clf(classifier))


@register_constraint("tree")
def _tree(value: str, classifier: str = "") -> Constraint:
    return SyntaxTree(value, classifier=_clf(classifier))


@register_constraint("span")
def _span(value: str, classifier: str = "") -> Constraint:
    return SyntaxSpans(value, classifier=_clf(classifier))
