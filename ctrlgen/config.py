"""Typed configs: dataclasses built from dicts/TOML with errors that name the bad key."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, TypeVar

from ctrlgen.errors import ConfigError

T = TypeVar("T")


def _check_type(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(tp):
            try:
                return _check_type(value, arm, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where} = {value!r} has the wrong type", f"expected {tp}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where} = {value!r} is not allowed",
                              f"choose one of {', '.join(map(repr, typing.get_args(tp)))}")
        return value
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{where} = {value!r} should be empty")
        return None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} = {value!r} should be a list")
        return list(value) if origin is list else tuple(value)
    if isinstance(tp, type):
        if tp is int and isinstance(value, bool) or not isinstance(value, tp):
            raise ConfigError(f"{where} = {value!r} should be of type {tp.__name__}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ``ConfigError``
    naming the key, with the allowed keys (and the closest match) in the hint."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} should be a table of keys, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            raise ConfigError(f"unknown key {where}.{key}",
                              (f"did you mean {close[0]!r}? " if close else "")
                              + f"allowed keys: {', '.join(sorted(fields))}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value, f"{where}.{key}")
        else:
            kwargs[key] = _check_type(value, tp, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field is missing
        raise ConfigError(f"{where}: {e}", f"required keys: {', '.join(k for k, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)}") from None


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)
