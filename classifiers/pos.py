"""``pos.v1``: the universal POS tag at every position, read from noisy latents (Diffusion-LM's POS tagger).

A bidirectional transformer over the latents predicts one tag per sequence position: the 17 UPOS tags
for words and ``START`` / ``END`` / ``PAD`` for the markers — so a POS target also fixes the length. The
target of ``log_prob`` is ``Tensor[B | 1, L]`` tag indices (−1 = unconstrained); ``log p`` is the sum over
positions. Training tags are silver: the spaCy oracle (``ctrlgen.POS.tag_words``) on the references.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ctrlgen import (
    POS,
    ClassifierData,
    ConstraintError,
    ModelContext,
    NoiseAwareClassifier,
)

from ._encoder import LatentEncoder

MARKERS = ("START", "END", "PAD")


class POSClassifier(NoiseAwareClassifier):
    """Noise-aware per-position UPOS tagger (plus START/END/PAD) over a model's frozen embeddings."""

    space = "embedding"

    def __init__(self, *, embed_dim: int, seq_len: int, tags: list[str], hidden: int = 64, layers: int = 2,
                 heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__(embed_dim=embed_dim, seq_len=seq_len, tags=tags, hidden=hidden, layers=layers,
                         heads=heads, dropout=dropout)
        self.tags = list(tags)
        self.encoder = LatentEncoder(embed_dim, seq_len, hidden, layers, heads, dropout)
        self.head = nn.Linear(hidden, len(self.tags))

    def tag_logits(self, x: Tensor, t: Tensor) -> Tensor:
        """``x: Tensor[B, L, d]``, ``t: Tensor[B]`` → ``Tensor[B, L, n_tags]``."""
        return self.head(self.encoder(x, t))

    def log_prob(self, x: Tensor, t: Tensor, target: Tensor) -> Tensor:
        """``target: Tensor[B | 1, L]`` long (−1 = unconstrained) → ``Tensor[B]``."""
        target = target.expand(x.shape[0], -1)
        lp = self.tag_logits(x, t).log_softmax(-1).gather(2, target.clamp(min=0)[..., None])[..., 0]
        return (lp * (target >= 0)).sum(1)

    def metrics(self, x: Tensor, t: Tensor, target: Tensor) -> dict[str, Tensor]:
        """``word_acc``: tag accuracy on word positions; ``acc``: on every constrained position."""
        target = target.expand(x.shape[0], -1)
        ok = (self.tag_logits(x, t).argmax(-1) == target).float()
        words = target >= len(MARKERS)
        known = target >= 0
        return {"word_acc": (ok * words).sum(1) / words.sum(1).clamp(min=1),
                "acc": (ok * known).sum(1) / known.sum(1).clamp(min=1)}

    def encode_tags(self, tags: Sequence[str], seq_len: int) -> list[int]:
        if len(tags) + 2 > seq_len:
            raise ConstraintError(f"{len(tags)} POS tags do not fit seq_len {seq_len}", f"give at most {seq_len - 2}")
        bad = sorted({t for t in tags if t not in self.tags or t in MARKERS})
        if bad:
            raise ConstraintError(f"the POS classifier does not know the tags {bad}",
                                  f"tags: {', '.join(t for t in self.tags if t not in MARKERS)}")
        idx = self.tags.index
        return [idx("START"), *(idx(t) for t in tags), idx("END"), *[idx("PAD")] * (seq_len - len(tags) - 2)]

    def encode_target(self, target: Any, tokenizer: Any, seq_len: int) -> Tensor:
        """A list of UPOS tags, one per word → ``Tensor[1, L]`` (START, tags, END, PAD…)."""
        if isinstance(target, str):
            target = target.replace(",", " ").split()
        return torch.tensor([self.encode_tags(list(target), seq_len)], dtype=torch.long)

    @classmethod
    def create(cls, examples: Sequence[Any], context: ModelContext, *, hidden: int = 64, layers: int = 2,
               heads: int = 4, dropout: float = 0.1) -> POSClassifier:
        cfg = context.model.config
        return cls(embed_dim=cfg.embed_dim, seq_len=cfg.seq_len, tags=[*MARKERS, *POS.TAGS], hidden=hidden,
                   layers=layers, heads=heads, dropout=dropout)

    def make_data(self, examples: Sequence[Any], context: ModelContext) -> ClassifierData:
        """Distinct references that fit ``seq_len``, tagged by the spaCy oracle."""
        seq_len = context.seq_len
        refs = [r for r in dict.fromkeys(e.ref for e in examples) if len(context.tokenizer.tokenize(r)) + 2 <= seq_len]
        words = [context.tokenizer.tokenize(r) for r in refs]
        silver = POS.tag_words(words)
        ids = torch.tensor([context.tokenizer.encode(r, seq_len) for r in refs], dtype=torch.long)
        return ClassifierData(ids, torch.tensor([self.encode_tags(t, seq_len) for t in silver], dtype=torch.long))
