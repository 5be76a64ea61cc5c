"""``syntax.v1``: constituent labels of every span, read from noisy latents (Diffusion-LM's span parser).

A transformer encodes the latents; a span ``(p, q)`` of sequence positions scores its labels by an MLP
on ``left(h_p) + right(h_q)``; label 0 (``""``) means "not a constituent", the others are constituent
labels seen in the silver training trees, a unary chain as one label (``S::VP``). The target of
``log_prob`` is a chart ``Tensor[B | 1, L, L]`` of label indices (−1 = unconstrained) and ``log p`` sums
the per-span log-probabilities over the constrained cells — the whole chart of the target's words for
``SyntaxTree`` (every other span labelled 0), only the given cells for ``SyntaxSpans``. This is the
per-span cross-entropy of the original (no tree CRF). Silver trees come from the parser oracle
(``ctrlgen.SyntaxTree.parse_words``) on the references.
"""

from __future__ import annotations

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
    SyntaxTree,
)

from ._encoder import LatentEncoder

NOT_A_CONSTITUENT = ""
_PARSES: dict[tuple[str, ...], Any] = {}  # words → silver tree: create() and make_data() parse once


def _silver(words: list[list[str]]) -> list[Any]:
    todo = [w for w in dict.fromkeys(map(tuple, words)) if w not in _PARSES]
    for w, tree in zip(todo, SyntaxTree.parse_words([list(w) for w in todo]), strict=True):
        _PARSES[w] = tree
    return [_PARSES[tuple(w)] for w in words]


class SpanClassifier(NoiseAwareClassifier):
    """Noise-aware span-label classifier (label 0 = not a constituent) over a model's frozen embeddings."""

    space = "embedding"

    def __init__(self, *, embed_dim: int, seq_len: int, labels: list[str], hidden: int = 64, layers: int = 2,
                 heads: int = 4, dropout: float = 0.1, span_hidden: int = 64) -> None:
        super().__init__(embed_dim=embed_dim, seq_len=seq_len, labels=labels, hidden=hidden, layers=layers,
                         heads=heads, dropout=dropout, span_hidden=span_hidden)
        self.labels = list(labels)
        self.encoder = LatentEncoder(embed_dim, seq_len, hidden, layers, heads, dropout)
        self.left, self.right = nn.Linear(hidden, span_hidden), nn.Linear(hidden, span_hidden)
        self.out = nn.Sequential(nn.GELU(), nn.LayerNorm(span_hidden), nn.Linear(span_hidden, len(self.labels)))

    def chart_logits(self, x: Tensor, t: Tensor, extent: int | None = None) -> Tensor:
        """``x: Tensor[B, L, d]``, ``t: Tensor[B]`` → ``Tensor[B, E, E, n_labels]`` for positions ``< E``
        (``extent``, default ``L``): cell ``[p, q]`` is the span from position p to q."""
        h = self.encoder(x, t)[:, :extent]
        return self.out(self.left(h)[:, :, None] + self.right(h)[:, None])

    def log_prob(self, x: Tensor, t: Tensor, target: Tensor) -> Tensor:
        """``target: Tensor[B | 1, L, L]`` long (−1 = unconstrained) → ``Tensor[B]``."""
        target = target.expand(x.shape[0], -1, -1)
        used = (target >= 0).flatten(0, 1).any(0).nonzero()
        extent = int(used.max()) + 1 if len(used) else 1
        target = target[:, :extent, :extent]
        lp = self.chart_logits(x, t, extent).log_softmax(-1).gather(3, target.clamp(min=0)[..., None])[..., 0]
        return (lp * (target >= 0)).sum((1, 2))

    def metrics(self, x: Tensor, t: Tensor, target: Tensor) -> dict[str, Tensor]:
        """``cell_acc``: accuracy over constrained cells; ``const_recall``: over cells that are constituents."""
        target = target.expand(x.shape[0], -1, -1)
        ok = (self.chart_logits(x, t).argmax(-1) == target).float()
        known, const = target >= 0, target > 0
        return {"cell_acc": (ok * known).sum((1, 2)) / known.sum((1, 2)).clamp(min=1),
                "const_recall": (ok * const).sum((1, 2)) / const.sum((1, 2)).clamp(min=1)}

    # ----------------------------------------------------------------------------------- targets
    def label_id(self, chain: str, strict: bool) -> int | None:
        """A chain's label index; when unknown and not ``strict``, its top label's, then its bottom one's."""
        if chain in self.labels:
            return self.labels.index(chain)
        parts = chain.split("::")
        for cand in ([] if strict else [parts[0], parts[-1]]):
            if cand in self.labels:
                return self.labels.index(cand)
        return None

    def chart(self, n_words: int | None, spans: Sequence[tuple[int, int, str]], seq_len: int,
              strict: bool, unknown: str = "raise") -> Tensor:
        """``Tensor[L, L]``: word span (i, j) is cell (i + 1, j + 1); with ``n_words`` every span of the
        sentence is constrained (0 where not in ``spans``). A label the classifier lacks raises, or with
        ``unknown="ignore"`` leaves its cell unconstrained (training data)."""
        chart = torch.full((seq_len, seq_len), -1, dtype=torch.long)
        if n_words is not None:
            iu = torch.triu_indices(n_words, n_words)
            chart[iu[0] + 1, iu[1] + 1] = 0
        for i, j, chain in spans:
            lid = self.label_id(chain, strict)
            if lid is None and unknown == "ignore":
                chart[i + 1, j + 1] = -1
                continue
            if lid is None:
                raise ConstraintError(f"the syntax classifier does not know the label {chain!r} (span {i}:{j})",
                                      f"labels: {', '.join(lab for lab in self.labels if lab)}")
            chart[i + 1, j + 1] = lid
        return chart

    def encode_target(self, target: Any, tokenizer: Any, seq_len: int) -> Tensor:
        """``{"n_words": n or None, "spans": [(i, j, label), ...]}`` → ``Tensor[1, L, L]``. A tree's chains
        the classifier lacks fall back to their top (then bottom) label; a span's label must be known."""
        n, spans = target.get("n_words"), target.get("spans", [])
        end = max([j for _, j, _ in spans] + [(n or 0) - 1])
        if end + 3 > seq_len:
            raise ConstraintError(f"the syntax target reaches word {end + 1}, more than seq_len {seq_len} allows",
                                  f"at most {seq_len - 2} words")
        return self.chart(n, spans, seq_len, strict=n is None)[None]

    @classmethod
    def create(cls, examples: Sequence[Any], context: ModelContext, *, hidden: int = 64, layers: int = 2,
               heads: int = 4, dropout: float = 0.1, span_hidden: int = 64, min_count: int = 5) -> SpanClassifier:
        """Labels: the unary chains seen at least ``min_count`` times in the silver parses."""
        counts: Counter[str] = Counter()
        for tree in _silver(_fitting_words(examples, context)):
            counts.update(lab for _, _, lab in SyntaxTree(tree).spans)
        labels = [NOT_A_CONSTITUENT, *(lab for lab, c in counts.most_common() if c >= min_count)]
        cfg = context.model.config
        return cls(embed_dim=cfg.embed_dim, seq_len=cfg.seq_len, labels=labels, hidden=hidden, layers=layers,
                   heads=heads, dropout=dropout, span_hidden=span_hidden)

    def make_data(self, examples: Sequence[Any], context: ModelContext) -> ClassifierData:
        """Distinct references that fit, with the full chart of their silver parse."""
        words = _fitting_words(examples, context)
        ids, charts = [], []
        for w, tree in zip(words, _silver(words), strict=True):
            ids.append(_encode_words(w, context))
            charts.append(self.chart(len(w), SyntaxTree(tree).spans, context.seq_len, strict=False, unknown="ignore"))
        return ClassifierData(torch.tensor(ids, dtype=torch.long), torch.stack(charts))


def _fitting_words(examples: Sequence[Any], context: ModelContext) -> list[list[str]]:
    refs = dict.fromkeys(e.ref for e in examples)
    words = (context.tokenizer.tokenize(r) for r in refs)
    return [w for w in words if w and len(w) + 2 <= context.seq_len]


def _encode_words(words: list[str], context: ModelContext) -> list[int]:
    """``[START] ids [END] [PAD]…`` of already split words (``seq_len`` long)."""
    vocab = context.tokenizer.vocab
    ids = [vocab.start_id, *vocab.ids(words), vocab.end_id]
    return ids + [vocab.pad_id] * (context.seq_len - len(ids))
