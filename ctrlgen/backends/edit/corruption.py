"""The forward process of DiffusER on word ids: q(x_t | x_{t−1}; E_t, E_l), with the gold reverse edits of each
step (scripts of :mod:`ctrlgen.backends.edit.edits`). Pure Python, CPU only.

**Randomness.** Corruption takes ``rng``: a ``random.Random`` (used and advanced), a ``torch.Generator``
(one 62-bit draw from it seeds a ``random.Random``, so the trainer's generator makes runs reproducible),
an ``int`` seed, or ``None`` (fresh OS entropy, not reproducible).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Literal

import torch

from ctrlgen.backends.edit.edits import Edit, EditScript, _Move, _script
from ctrlgen.errors import ConfigError, SamplingError
from ctrlgen.text.vocab import SPECIALS

Rng = random.Random | torch.Generator | int | None


@dataclass
class EditDiffusionConfig:
    p_keep: float = 0.6  # E_t, the edit type drawn at each decision point (DiffusER: 60/20/10/10) ...
    p_replace: float = 0.2  # ... the four must sum to 1
    p_insert: float = 0.1
    p_delete: float = 0.1
    span: Literal["poisson", "uniform"] = "poisson"  # E_l, the span length drawn with each edit type
    span_lambda: float = 3.0  # poisson mean (DiffusER: 3 translation, 8 summarisation); a draw of 0 counts as 1
    max_span: int | None = None  # uniform: lengths ~ U{1..max_span} (required); poisson: optional upper clip
    steps: int = 12  # corruption steps T of a trajectory (DiffusER decodes with ~12 revisions)
    tokens: Literal["uniform", "unigram"] = "uniform"  # new ids: uniform over non-special ids, or the unigram
    # weights given to EditDiffusion (specials get no mass either way)

    def __post_init__(self) -> None:
        probs = (self.p_keep, self.p_replace, self.p_insert, self.p_delete)
        if not all(math.isfinite(p) and p >= 0 for p in probs) or abs(sum(probs) - 1) > 1e-6:
            raise ConfigError(f"edit type probabilities (keep, replace, insert, delete) must be ≥ 0 and sum to 1, "
                              f"got {probs} (sum {sum(probs):.6g})", "DiffusER uses 0.6, 0.2, 0.1, 0.1")
        if self.span not in ("poisson", "uniform"):
            raise ConfigError(f"span = {self.span!r} is not allowed", "choose 'poisson' or 'uniform'")
        if not (math.isfinite(self.span_lambda) and 0 <= self.span_lambda <= 100):
            raise ConfigError(f"span_lambda must be in [0, 100], got {self.span_lambda!r}", "DiffusER uses 3 or 8")
        if self.max_span is not None and self.max_span < 1 or self.span == "uniform" and self.max_span is None:
            raise ConfigError(f"max_span must be ≥ 1 (and is required by span = 'uniform'), got {self.max_span}",
                              "uniform lengths are drawn from 1..max_span; with poisson, None means no clip")
        if self.steps < 1:
            raise ConfigError(f"steps must be ≥ 1, got {self.steps}", "12 is a typical number of revisions")
        if self.tokens not in ("uniform", "unigram"):
            raise ConfigError(f"tokens = {self.tokens!r} is not allowed", "choose 'uniform' or 'unigram'")


def as_random(rng: Rng) -> random.Random:
    """A ``random.Random`` for ``rng`` (see the module docstring)."""
    if isinstance(rng, random.Random):
        return rng
    if isinstance(rng, torch.Generator):
        return random.Random(int(torch.randint(0, 2 ** 62, (1,), generator=rng).item()))
    if rng is None or (isinstance(rng, int) and not isinstance(rng, bool)):
        return random.Random(rng)
    raise SamplingError(f"rng must be a random.Random, torch.Generator, int or None, got {type(rng).__name__}",
                        "pass e.g. random.Random(0) or torch.Generator().manual_seed(0)")


class EditDiffusion:
    """The forward process q(x_t | x_{t−1}; E_t, E_l) of DiffusER on word ids.

    One step walks over x_{t−1} left to right. At each decision point (before each remaining token, and
    once at the end) it draws an edit type e ~ E_t and a span length l ~ E_l:

    - KEEP copies the next l tokens; DELETE drops them; REPLACE writes l new ids in their place, each
      different from the id it replaces (up to 8 redraws; a degenerate token distribution may keep it);
    - INSERT writes l new ids, then copies the next token (so every decision moves on and an insertion
      at position 0 is possible).

    Spans are clipped at the end of the sequence. The end gets one decision, where only INSERT acts, so
    an empty sequence grows with probability ``p_insert``. With equal insert and delete
    probabilities the expected length is unchanged. New ids come from the token distribution (uniform over
    ids ``num_special..vocab_size−1``, or ``unigram`` weights of length ``vocab_size``, any scale, with
    the specials' weights ignored). A 100% KEEP distribution is the identity.
    """

    def __init__(self, config: EditDiffusionConfig, vocab_size: int, unigram: Sequence[float] | torch.Tensor | None = None,
                 num_special: int = len(SPECIALS)) -> None:
        self.config, self.vocab_size, self.num_special = config, vocab_size, num_special
        if vocab_size <= num_special:
            raise ConfigError(f"vocab_size = {vocab_size} leaves no ids besides the {num_special} specials",
                              "pass len(tokenizer.vocab)")
        self._cum: list[float] | None = None
        if config.tokens == "unigram":
            if unigram is None:
                raise ConfigError("tokens = 'unigram' needs unigram weights", "pass unigram=counts of each id")
            w = [float(x) for x in (unigram.tolist() if isinstance(unigram, torch.Tensor) else unigram)]
            if len(w) != vocab_size or not all(math.isfinite(x) and x >= 0 for x in w) or sum(w[num_special:]) <= 0:
                raise ConfigError(f"unigram needs {vocab_size} finite weights ≥ 0 with mass on non-special ids",
                                  "pass word counts indexed by id")
            self._cum = list(accumulate(w[num_special:]))
        elif unigram is not None:
            raise ConfigError("unigram weights were given but tokens = 'uniform'", "set tokens = 'unigram'")
        c = config
        self._type_cum = list(accumulate((c.p_keep, c.p_replace, c.p_insert, c.p_delete)))
        self._types = (Edit.KEEP, Edit.REPLACE, Edit.INSERT, Edit.DELETE)

    def _edit(self, r: random.Random) -> Edit:
        return self._types[min(bisect_right(self._type_cum, r.random() * self._type_cum[-1]), 3)]

    def _length(self, r: random.Random) -> int:
        c = self.config
        if c.span == "uniform":
            return r.randint(1, c.max_span or 1)
        k, p, u = 0, math.exp(-c.span_lambda), r.random()  # Poisson by inverse transform
        total = p
        while u > total and p > 0:
            k += 1
            p *= c.span_lambda / k
            total += p
        k = max(k, 1)
        return min(k, c.max_span) if c.max_span is not None else k

    def sample_token(self, r: random.Random, avoid: int | None = None) -> int:
        """A new id from the token distribution, redrawn (up to 8 times) while it equals ``avoid``."""
        for _ in range(8):
            if self._cum is None:
                new = r.randrange(self.num_special, self.vocab_size)
            else:
                new = self.num_special + min(bisect_right(self._cum, r.random() * self._cum[-1]), len(self._cum) - 1)
            if new != avoid:
                break
        return new

    def corrupt_step(self, ids: Sequence[int], rng: Rng) -> tuple[list[int], EditScript]:
        """One step: ``x_{t−1}`` (``ids``) → ``(x_t, reverse)``, where ``apply_edits(x_t, reverse) == ids``:
        the gold tags and spans for the tagger and generator at this step."""
        r, x = as_random(rng), [int(i) for i in ids]
        out: list[int] = []
        rev: list[_Move] = []  # the reverse moves, over x_t
        i = 0
        while True:
            e, n = self._edit(r), self._length(r)
            if e == Edit.INSERT:
                for _ in range(n):
                    out.append(self.sample_token(r))
                    rev.append((Edit.DELETE, None))
                n = 1  # then copy the next token
            if i == len(x):  # the end gap: one decision, only INSERT acts
                break
            for old in x[i:i + n]:
                if e == Edit.DELETE:
                    rev.append((Edit.INSERT, old))
                elif e == Edit.REPLACE:
                    out.append(self.sample_token(r, avoid=old))
                    rev.append((Edit.REPLACE, old))
                else:
                    out.append(old)
                    rev.append((Edit.KEEP, None))
            i += len(x[i:i + n])
        return out, _script(out, rev)

    def trajectory(self, x0: Sequence[int], rng: Rng, steps: int | None = None) -> tuple[list[list[int]], list[EditScript]]:
        """``steps`` (default ``config.steps``) corruption steps from ``x0``: ``(states, reverse)`` with
        ``states = [x_0, ..., x_T]`` and ``apply_edits(states[t], reverse[t − 1]) == states[t − 1]``."""
        steps = self.config.steps if steps is None else steps
        if steps < 0:
            raise SamplingError(f"steps must be ≥ 0, got {steps}", f"the config's default is {self.config.steps}")
        r = as_random(rng)  # one conversion, so a torch.Generator is drawn from once per trajectory
        states, reverse = [[int(i) for i in x0]], []
        for _ in range(steps):
            x_t, rev = self.corrupt_step(states[-1], r)
            states.append(x_t)
            reverse.append(rev)
        return states, reverse
