"""What a resume may change: the diff between a checkpoint's ``config.json`` and this run, split into the
changes that alter what is trained (refused unless ``--allow-config-change``) and the run's logistics
(allowed, logged at WARNING with old -> new).

``training.steps`` sits between the two: the cosine and linear schedules decay over ``steps``, so a new value
changes the learning rate of every step after warmup. It is allowed when the learning rates of the steps
already taken stay the same (the resumed run is then exactly a run started with the new value, e.g. a run
extended while still in warmup, or any ``lr_schedule = "constant"``), and refused like a config change
otherwise.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from ctrlgen.errors import ConfigError

#: training fields a resume may change freely: how often to log and checkpoint, where, on how many threads
RUN_FIELDS = frozenset({"log_every", "checkpoint_every", "keep_checkpoints", "threads", "device"})
#: the training field the learning-rate schedule is stretched over
LENGTH_FIELD = "training.steps"


def config_diff(saved: dict[str, Any], current: dict[str, Any]) -> dict[str, list[Any]]:
    """Fields that differ between a checkpoint's ``config.json`` and this run, as
    ``{"training.seed": [old, new]}``: every field of ``model``, ``diffusion`` and ``training`` and
    ``data.fingerprint`` / ``data.min_count``. A field absent on one side shows as ``None`` there."""
    current = json.loads(json.dumps(current))  # tuples -> lists, as in the saved JSON
    missing = object()
    out: dict[str, list[Any]] = {}
    for section in ("model", "diffusion", "training", "data"):
        old, new = saved.get(section) or {}, current.get(section) or {}
        keys = set(old) | set(new)
        keys = keys & {"fingerprint", "min_count"} if section == "data" else keys
        for key in sorted(keys):
            if old.get(key, missing) != new.get(key, missing):
                out[f"{section}.{key}"] = [old.get(key), new.get(key)]
    return out


def first_lr_change(lr_old: Callable[[int], float], lr_new: Callable[[int], float], step: int) -> int | None:
    """The first step ``k < step`` whose learning rate differs between two schedules, or None (exact float
    equality: a resumed run equal bit for bit to a fresh one needs the very same values)."""
    return next((k for k in range(step) if lr_old(k) != lr_new(k)), None)


def split_changes(diff: dict[str, list[Any]], schedule_kept: bool) -> tuple[dict[str, list[Any]],
                                                                             dict[str, list[Any]]]:
    """``(refused, allowed)``: the run's logistics (:data:`RUN_FIELDS`) are allowed, and so is
    ``training.steps`` when ``schedule_kept`` (the steps already taken had the same learning rates)."""
    refused: dict[str, list[Any]] = {}
    allowed: dict[str, list[Any]] = {}
    for key, change in diff.items():
        section, _, name = key.partition(".")
        harmless = (section == "training" and name in RUN_FIELDS) or (key == LENGTH_FIELD and schedule_kept)
        (allowed if harmless else refused)[key] = change
    return refused, allowed


def show(diff: dict[str, list[Any]]) -> str:
    """``"training.seed (0 -> 1), training.lr (0.001 -> 0.002)"``."""
    return ", ".join(f"{k} ({old!r} -> {new!r})" for k, (old, new) in diff.items())


def explain(refused: dict[str, list[Any]]) -> str:
    """:func:`show` of refused changes, with why ``training.steps`` is among them."""
    why = (f"; {LENGTH_FIELD} changes the learning rate of steps already taken (the schedule decays over it)"
           if LENGTH_FIELD in refused else "")
    return show(refused) + why


def resume_changes(saved: dict[str, Any], current: dict[str, Any], cfg: Any, step: int,
                   lr_at: Callable[[Any, int], float]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """``(refused, allowed)`` changes of ``current`` (this run's config as saved) against a checkpoint's
    ``saved`` config at ``step``; ``cfg`` is this run's ``TrainConfig`` and ``lr_at(cfg, k)`` its schedule.
    A checkpoint beyond ``cfg.steps`` is a ``ConfigError`` whatever the flags."""
    if cfg.steps < step:
        raise ConfigError(f"cannot resume at step {step}: the checkpoint is beyond training.steps = {cfg.steps}",
                          f"set training.steps to at least {step}, or use the checkpoint's weights as they are")
    diff = config_diff(saved, current)
    old_steps = diff.get(LENGTH_FIELD, [cfg.steps])[0]
    kept = False
    if isinstance(old_steps, int) and not isinstance(old_steps, bool) and old_steps > 0:
        before = dataclasses.replace(cfg, steps=old_steps)
        kept = first_lr_change(lambda k: lr_at(before, k), lambda k: lr_at(cfg, k), step) is None
    return split_changes(diff, kept)
