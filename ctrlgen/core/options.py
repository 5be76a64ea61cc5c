"""The one validated options object every generation backend takes.

``Options`` checks every value up front, in ``__post_init__``, and raises a typed error whose hint
says what to pass instead, so that a bad request fails in milliseconds rather than an hour into
sampling. ``check_budget`` does the same for requests that are valid but absurdly expensive.

Importing this module imports no torch (the CLI validates its arguments with it before loading anything):
torch is imported by the ``torch_*`` methods and to check a ``device``, when one is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import numbers
import operator
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ctrlgen.errors import ConfigError, SamplingError

# hard limits: beyond them a request is a typo or a runaway loop, not a job; refused up front
MAX_N = 100_000  # samples per call
MAX_STEPS = 10_000  # denoising / revision steps
MAX_BATCH = 4096  # samples per forward pass
MAX_SEED = 2**63 - 1  # the largest seed torch.Generator.manual_seed takes as a signed int64

DTYPES = ("float32", "float16", "bfloat16", "float64")
DEFAULT_MAX_SECONDS = 6 * 3600.0  # a run longer than this needs an explicit budget
_FALLBACK_RAM = 16 * 2**30  # assumed physical RAM when the OS does not say

if TYPE_CHECKING:
    import torch


def _int(name: str, value: Any, example: str) -> int:
    """``value`` as a plain int; bools, floats and strings are refused (numpy ints are fine)."""
    if isinstance(value, bool):
        raise SamplingError(f"{name} must be an integer, got {value!r}", f"pass e.g. {example}")
    try:
        return operator.index(value)
    except TypeError:
        raise SamplingError(f"{name} must be an integer, got {value!r}", f"pass e.g. {example}") from None


def count(name: str, value: Any, limit: int, example: str) -> int:
    """A positive integer no larger than ``limit``, else :class:`SamplingError` with a hint."""
    v = _int(name, value, example)
    if v < 1:
        raise SamplingError(f"{name} must be a positive integer, got {value!r}", f"pass e.g. {example}")
    if v > limit:
        raise SamplingError(f"{name}={v} is above the limit of {limit}", f"pass {name} <= {limit}")
    return v


def _physical_ram() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return _FALLBACK_RAM


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        v = float(raw)
    except ValueError:
        v = math.nan
    if not math.isfinite(v) or v <= 0:
        raise ConfigError(f"environment variable {name} must be a positive number, got {raw!r}",
                          f"unset {name} or set it to e.g. {name}={int(default)}")
    return v


def _fmt_seconds(s: float) -> str:
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if s >= 2 * size:
            return f"about {s / size:.1f} {unit}"
    return f"about {s:.1f} seconds"


def _fmt_bytes(b: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= size:
            return f"about {b / size:.{0 if b >= 10 * size else 1}f} {unit}"
    return f"about {int(b)} bytes"


@dataclass(frozen=True)
class Options:
    """How many samples to draw and how; every backend's ``generate`` takes exactly this object."""

    n: int = 8  # number of samples to return
    steps: int | None = None  # denoising / revision steps; None = the backend's default (with_defaults)
    seed: int | None = 0  # seed of the sampling generator; None = a fresh random seed each call
    batch_size: int = 64  # samples per forward pass; bounds peak memory, not the result
    guidance_scale: float = 1.0  # strength of soft constraints; 0 = unguided; meaning per backend
    device: str | None = None  # torch device string ("cpu", "cuda:0"); None = cpu
    dtype: str | None = None  # "float32" (None), "float16", "bfloat16" or "float64"
    progress: bool | None = None  # progress bar; None = only when stderr is a terminal
    return_trajectory: bool = False  # also return the intermediate states of every step

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)
        set_("n", count("n", self.n, MAX_N, "n=8"))
        set_("batch_size", count("batch_size", self.batch_size, MAX_BATCH, "batch_size=64"))
        if self.steps is not None:
            set_("steps", count("steps", self.steps, MAX_STEPS, "steps=200, or None for the default"))
        if self.seed is not None:
            seed = _int("seed", self.seed, "seed=0, or seed=None for a random seed")
            if not 0 <= seed <= MAX_SEED:
                raise SamplingError(f"seed must be in [0, 2**63 - 1], got {seed}",
                                    "pass e.g. seed=0, or seed=None for a random seed")
            set_("seed", seed)
        g = self.guidance_scale
        if isinstance(g, bool) or not isinstance(g, numbers.Real) or not math.isfinite(g) or g < 0:
            raise SamplingError(f"guidance_scale must be a finite number >= 0, got {g!r}",
                                "pass e.g. guidance_scale=1.0, or 0 for unguided sampling")
        set_("guidance_scale", float(g))
        for name in ("progress", "return_trajectory"):
            v = getattr(self, name)
            if not isinstance(v, bool) and not (name == "progress" and v is None):
                raise SamplingError(f"{name} must be True or False, got {v!r}", f"pass {name}=True or False")
        set_("dtype", self._check_dtype(self.dtype))
        set_("device", self._check_device(self.device))

    @staticmethod
    def _check_dtype(dtype: Any) -> str | None:
        loaded = sys.modules.get("torch")  # a torch.dtype exists only once torch is imported
        if loaded is not None and isinstance(dtype, loaded.dtype):
            dtype = str(dtype).removeprefix("torch.")
        if dtype is not None and dtype not in DTYPES:
            raise ConfigError(f"unsupported dtype {dtype!r}", f"pass one of {', '.join(DTYPES)} (or None)")
        return dtype

    @staticmethod
    def _check_device(device: Any) -> str | None:
        if device is None:
            return None
        import torch  # lazy: start-up speed (the CLI validates options without torch)

        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError, ValueError):
            raise ConfigError(f"unknown device {device!r}", "pass e.g. device='cpu' or 'cuda:0'") from None
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise ConfigError(f"device {device!r} requested but CUDA is not available",
                                  "pass device='cpu' (or None), or install a CUDA build of torch")
            if dev.index is not None and dev.index >= torch.cuda.device_count():
                raise ConfigError(f"device {device!r} does not exist",
                                  f"pass an index below {torch.cuda.device_count()}, e.g. 'cuda:0'")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise ConfigError(f"device {device!r} requested but MPS is not available", "pass device='cpu'")
        return str(dev)

    @classmethod
    def from_kwargs(cls, **kw: Any) -> Options:
        """Build from keyword arguments, refusing unknown keys with a "did you mean" hint."""
        fields = [f.name for f in dataclasses.fields(cls)]
        for key in kw:
            if key not in fields:
                guess = "".join(f"did you mean {c!r}? " for c in difflib.get_close_matches(key, fields, n=1))
                raise SamplingError(f"unknown option {key!r}", f"{guess}options are: {', '.join(fields)}")
        return cls(**kw)

    def with_defaults(self, *, steps: int) -> Options:
        """A copy with ``steps`` filled in (the backend's default) when it was left as None."""
        return self if self.steps is not None else dataclasses.replace(self, steps=steps)

    def estimate(self, *, cost_per_step_s: float, memory_per_sample_bytes: int,
                 default_steps: int) -> tuple[float, int]:
        """(estimated seconds, peak bytes): time = n * steps * cost per sample per step,
        memory = min(batch_size, n) * bytes per sample in flight."""
        steps = self.steps if self.steps is not None else default_steps
        seconds = self.n * steps * float(cost_per_step_s)
        peak = min(self.batch_size, self.n) * int(memory_per_sample_bytes)
        return seconds, peak

    def check_budget(self, *, cost_per_step_s: float, memory_per_sample_bytes: int, default_steps: int,
                     max_seconds: float | None = None, max_bytes: int | None = None) -> None:
        """Raise SamplingError when the estimate exceeds the time or memory budget.

        Defaults: ``max_seconds`` from $CTRLGEN_MAX_SECONDS else 6 hours; ``max_bytes`` from
        $CTRLGEN_MAX_BYTES else 80% of physical RAM.
        """
        if max_seconds is None:
            max_seconds = _env_number("CTRLGEN_MAX_SECONDS", DEFAULT_MAX_SECONDS)
        if max_bytes is None:
            max_bytes = int(_env_number("CTRLGEN_MAX_BYTES", 0.8 * _physical_ram()))
        seconds, peak = self.estimate(cost_per_step_s=cost_per_step_s,
                                      memory_per_sample_bytes=memory_per_sample_bytes,
                                      default_steps=default_steps)
        steps = self.steps if self.steps is not None else default_steps
        what = f"n={self.n}, steps={steps}, batch_size={self.batch_size}"
        if seconds > max_seconds:
            raise SamplingError(
                f"{what} would take {_fmt_seconds(seconds)} (budget {_fmt_seconds(max_seconds)})",
                "lower n or steps, or pass a larger max_seconds (or set CTRLGEN_MAX_SECONDS)")
        if peak > max_bytes:
            raise SamplingError(
                f"{what} would need {_fmt_bytes(peak)} of memory (budget {_fmt_bytes(max_bytes)})",
                "lower batch_size, or pass a larger max_bytes (or set CTRLGEN_MAX_BYTES)")

    def show_progress(self) -> bool:
        """Whether to draw a progress bar: ``progress`` if set, else only when stderr is a terminal."""
        if self.progress is not None:
            return self.progress
        try:
            return sys.stderr.isatty()
        except (AttributeError, ValueError):  # stderr replaced or closed
            return False

    def torch_generator(self) -> torch.Generator:
        """A CPU generator seeded with ``seed``; a fresh random seed when ``seed`` is None.

        The random seed comes from a throwaway generator so torch's global RNG is left untouched;
        the seed actually used is ``generator.initial_seed()``.
        """
        import torch  # lazy: start-up speed (the CLI validates options without torch)

        seed = self.seed if self.seed is not None else int(torch.Generator().seed() % 2**62)
        return torch.Generator(device="cpu").manual_seed(seed)

    def torch_dtype(self) -> torch.dtype:
        """The torch dtype (float32 when ``dtype`` is None)."""
        import torch  # lazy: start-up speed (the CLI validates options without torch)

        return getattr(torch, self.dtype or "float32")

    def torch_device(self) -> torch.device:
        """The torch device (cpu when ``device`` is None)."""
        import torch  # lazy: start-up speed (the CLI validates options without torch)

        return torch.device(self.device or "cpu")


def positive_int(s: str) -> int:
    """argparse ``type=``: an integer > 0."""
    try:
        v = int(s)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return v


def nonnegative_float(s: str) -> float:
    """argparse ``type=``: a finite number >= 0."""
    try:
        v = float(s)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {s!r}")
    return v


def positive_float(s: str) -> float:
    """argparse ``type=``: a finite number > 0 (a learning rate, say)."""
    try:
        v = float(s)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {s!r}")
    return v


def seed_int(s: str) -> int:
    """argparse ``type=``: a seed, an integer in [0, 2**63 - 1] (what ``torch.Generator.manual_seed`` takes)."""
    try:
        v = int(s)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {s!r}") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed must be in [0, 2**63 - 1], got {v}")
    return v
