"""``semantic.v1``: which value (or none) the text gives each E2E field, read from noisy latents.

For every field a learned query attends over the encoded latents and a linear head scores the field's
values seen in training, plus ``"none"`` (the field is absent from the meaning representation). The
target of ``log_prob`` is ``Tensor[B | 1, F]`` value indices per field, ``-1`` for fields it does not
constrain, so one target serves training (all fields) and guidance (the fields asked for):
``log p = Σ_f log p(value_f | x_t, t)``. (Diffusion-LM scores the value *tokens* left to right; E2E values
form closed sets, so a categorical per field does the same job with less compute.)
"""

from __future__ import annotations

import difflib
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ctrlgen import (
    ClassifierData,
    ConstraintError,
    ModelContext,
    NoiseAwareClassifier,
    SemanticField,
)

from ._encoder import LatentEncoder

NONE = "none"


def fields_log_prob(field_logits: list[Tensor], target: Tensor) -> Tensor:
    """Σ over constrained fields of log p(value): ``field_logits[k]: Tensor[B, n_values_k]``, ``target: Tensor[B | 1, F]``
    long (−1 = unconstrained) → ``Tensor[B]``."""
    b = field_logits[0].shape[0]
    target = target.expand(b, -1)
    total = field_logits[0].new_zeros(b)
    for k, logits in enumerate(field_logits):
        tk = target[:, k]
        if bool((tk >= 0).any()):
            lp = logits.log_softmax(-1).gather(1, tk.clamp(min=0)[:, None])[:, 0]
            total = total + torch.where(tk >= 0, lp, torch.zeros_like(lp))
    return total


class SemanticClassifier(NoiseAwareClassifier):
    """Noise-aware E2E slot classifier (per field: its value or none) over a model's frozen embeddings."""

    space = "embedding"

    def __init__(self, *, embed_dim: int, seq_len: int, values: dict[str, list[str]], hidden: int = 64,
                 layers: int = 2, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__(embed_dim=embed_dim, seq_len=seq_len, values=values, hidden=hidden, layers=layers,
                         heads=heads, dropout=dropout)
        self.fields = list(values)
        self.values = {f: list(v) for f, v in values.items()}  # index 0 is "none"
        self.encoder = LatentEncoder(embed_dim, seq_len, hidden, layers, heads, dropout)
        self.queries = nn.Parameter(torch.randn(len(self.fields), hidden) * 0.02)
        self.heads = nn.ModuleList(nn.Linear(hidden, len(v)) for v in self.values.values())

    def field_logits(self, x: Tensor, t: Tensor) -> list[Tensor]:
        """``x: Tensor[B, L, d]``, ``t: Tensor[B]`` → per field ``Tensor[B, n_values(field)]``."""
        h = self.encoder(x, t)
        att = torch.einsum("fh,blh->bfl", self.queries, h) / math.sqrt(h.shape[-1])
        pooled = torch.einsum("bfl,blh->bfh", att.softmax(-1), h)
        return [head(pooled[:, k]) for k, head in enumerate(self.heads)]

    def log_prob(self, x: Tensor, t: Tensor, target: Tensor) -> Tensor:
        """``target: Tensor[B | 1, F]`` long (−1 = unconstrained) → ``Tensor[B]``."""
        return fields_log_prob(self.field_logits(x, t), target)

    def metrics(self, x: Tensor, t: Tensor, target: Tensor) -> dict[str, Tensor]:
        """``acc``: share of constrained fields predicted right; ``present_acc``: the same over fields with
        a value (NaN when none has one) — the case control asks for."""
        target = target.expand(x.shape[0], -1)
        pred = torch.stack([lg.argmax(-1) for lg in self.field_logits(x, t)], dim=1)
        ok = (pred == target).float()
        known, present = target >= 0, target > 0
        acc = (ok * known).sum(1) / known.sum(1).clamp(min=1)
        pres = (ok * present).sum(1) / present.sum(1)
        return {"acc": acc, "present_acc": pres}

    # ----------------------------------------------------------------------------------- targets
    def encode_target(self, target: Any, tokenizer: Any, seq_len: int) -> Tensor:
        """``(field, value)``, or a dict ``{field: value}`` → ``Tensor[1, F]``."""
        pairs = target.items() if isinstance(target, dict) else [target]
        out = torch.full((1, len(self.fields)), -1, dtype=torch.long)
        for pair in pairs:
            try:
                field, value = pair
            except (TypeError, ValueError):
                raise ConstraintError(f"semantic target must be (field, value) or {{field: value}}, got {target!r}",
                                      "e.g. ('food', 'Japanese')") from None
            if field not in self.values:
                raise ConstraintError(f"the semantic classifier has no field {field!r}",
                                      f"fields: {', '.join(self.fields)}")
            known = self.values[field]
            if value not in known:
                close = difflib.get_close_matches(value, known[1:], n=1)
                raise ConstraintError(f"the semantic classifier never saw {field} = {value!r}",
                                      (f"did you mean {close[0]!r}? " if close else "")
                                      + f"values of {field}: {', '.join(map(repr, known[1:]))}")
            out[0, self.fields.index(field)] = known.index(value)
        return out

    @classmethod
    def create(cls, examples: Sequence[Any], context: ModelContext, *, hidden: int = 64, layers: int = 2,
               heads: int = 4, dropout: float = 0.1) -> SemanticClassifier:
        """Value sets from the training MRs (:meth:`value_sets`); sizes from the model's embeddings."""
        values = cls.value_sets(examples)
        cfg = context.model.config
        return cls(embed_dim=cfg.embed_dim, seq_len=cfg.seq_len, values=values, hidden=hidden, layers=layers,
                   heads=heads, dropout=dropout)

    @staticmethod
    def value_sets(examples: Sequence[Any]) -> dict[str, list[str]]:
        """Per field, the values of the training MRs (most frequent first, ``"none"`` first of all)."""
        counts: dict[str, Counter[str]] = {f: Counter() for f in SemanticField.FIELDS}
        for e in examples:
            for f, v in e.mr.items():
                counts[f][v] += 1
        return {f: [NONE, *(v for v, _ in c.most_common())] for f, c in counts.items()}

    def make_data(self, examples: Sequence[Any], context: ModelContext) -> ClassifierData:
        """One row per example: its reference's ids and every field's value index (0 = absent, −1 =
        a value this classifier does not know); references longer than ``seq_len`` are skipped."""
        ids, targets = [], []
        seq_len = context.seq_len
        for e in examples:
            if len(context.tokenizer.tokenize(e.ref)) + 2 > seq_len:
                continue
            ids.append(context.tokenizer.encode(e.ref, seq_len))
            targets.append([self.values[f].index(e.mr[f]) if e.mr.get(f) in self.values[f] else
                             (-1 if f in e.mr else 0) for f in self.fields])
        return ClassifierData(torch.tensor(ids, dtype=torch.long), torch.tensor(targets, dtype=torch.long))
